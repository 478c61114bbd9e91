"""Pretrain stage: fit the two-tower encoder on the train split; write Z_user and Z_item."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.data.artifacts import read_items, read_split, read_users
from dqrec.represent.artifacts import write_representations
from dqrec.represent.pretrain import PretrainConfig, pretrain
from dqrec.training import TrainerConfig
from flows.common import WORKSPACE, publish_metrics, run_stage, section


@task(cache_policy=NO_CACHE)
def pretrain_to_disk(config: PretrainConfig, trainer: TrainerConfig) -> dict | None:
    result = pretrain(read_split(WORKSPACE.split_dir, "train"), read_split(WORKSPACE.split_dir, "valid"),
                      read_users(WORKSPACE.ingest_dir), read_items(WORKSPACE.ingest_dir), config, trainer)
    if not result.is_global_zero:  # under DDP every process trains; one writes
        return None
    write_representations(WORKSPACE.pretrain_dir, "user", result.users)
    write_representations(WORKSPACE.pretrain_dir, "item", result.items)
    rows = zip(range(1, config.epochs + 1), result.history["train_loss"], result.history["val_loss"], strict=False)
    WORKSPACE.write_plot_data("pretrain_loss.csv", "epoch,train_loss,val_loss\n"
                              + "".join(f"{e},{t:.6f},{v:.6f}\n" for e, t, v in rows))
    best = result.best_epoch - 1
    metrics = {"epochs": len(result.history["train_loss"]), "best_epoch": result.best_epoch,
               "train_loss": result.history["train_loss"][best], "val_loss": result.history["val_loss"][best],
               "users": len(result.users), "items": len(result.items), "dim": int(result.items.shape[1]),
               "text_words": result.text_words}
    WORKSPACE.write_metrics("pretrain", metrics)
    return metrics


@flow(name="pretrain", log_prints=True)
def pretrain_flow() -> dict | None:
    metrics = pretrain_to_disk(section("pretrain", PretrainConfig), section("trainer", TrainerConfig))
    if metrics is None:
        return None
    get_run_logger().info("pretrained %d epochs, kept epoch %d: train loss %.4f, validation loss %.4f",
                          metrics["epochs"], metrics["best_epoch"], metrics["train_loss"], metrics["val_loss"])
    publish_metrics("pretrain-metrics", metrics, "Final losses of the pre-training encoder")
    return metrics


if __name__ == "__main__":
    run_stage(pretrain_flow)
