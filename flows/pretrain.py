"""Pretrain stage: fit the two-tower encoder on the train split; write Z_user and Z_item."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.data.artifacts import ITEMS, USERS, read_split
from dqrec.io import atomic_file, write_json_atomic
from dqrec.quantize.artifacts import save_array
from dqrec.represent.encoder import EncoderConfig
from dqrec.represent.pretrain import PretrainConfig, pretrain
from flows.common import METRICS_DIR, PLOTS_DIR, load_params, publish_metrics, run_stage
from flows.ingest import INGEST_DIR
from flows.split import SPLIT_DIR

PRETRAIN_DIR = Path("data/pretrain")


def config_from(params: dict) -> PretrainConfig:
    encoder = EncoderConfig(dim=int(params["dim"]), temperature=float(params["temperature"]),
                            n_negatives=int(params["n_negatives"]), lr=float(params["lr"]))
    return PretrainConfig(encoder=encoder, epochs=int(params["epochs"]), patience=int(params["patience"]),
                          batch_size=int(params["batch_size"]),
                          max_history=int(params["max_history"]), seed=int(params["seed"]))


@task(cache_policy=NO_CACHE)
def pretrain_to_disk(config: PretrainConfig) -> dict:
    result = pretrain(read_split(SPLIT_DIR, "train"), read_split(SPLIT_DIR, "valid"),
                      pd.read_parquet(INGEST_DIR / USERS), pd.read_parquet(INGEST_DIR / ITEMS), config)
    save_array(PRETRAIN_DIR / "user.npy", result.users)
    save_array(PRETRAIN_DIR / "item.npy", result.items)
    with atomic_file(PLOTS_DIR / "pretrain_loss.csv") as stream:
        rows = zip(range(1, config.epochs + 1), result.history["train_loss"], result.history["val_loss"],
                   strict=False)
        text = "epoch,train_loss,val_loss\n" + "".join(f"{e},{t:.6f},{v:.6f}\n" for e, t, v in rows)
        stream.write(text.encode())
    best = result.best_epoch - 1
    metrics = {"epochs": len(result.history["train_loss"]), "best_epoch": result.best_epoch,
               "train_loss": result.history["train_loss"][best], "val_loss": result.history["val_loss"][best],
               "users": len(result.users), "items": len(result.items)}
    write_json_atomic(METRICS_DIR / "pretrain.json", metrics)
    return metrics


@flow(name="pretrain", log_prints=True)
def pretrain_flow() -> dict:
    metrics = pretrain_to_disk(config_from(load_params()["pretrain"]))
    get_run_logger().info("pretrained %d epochs, kept epoch %d: train loss %.4f, validation loss %.4f",
                          metrics["epochs"], metrics["best_epoch"], metrics["train_loss"], metrics["val_loss"])
    publish_metrics("pretrain-metrics", metrics, "Final losses of the pre-training encoder")
    return metrics


if __name__ == "__main__":
    run_stage(pretrain_flow)
