"""Train stage: the two-tower CF model in each variant (baseline and SID-augmented), selected on validation.
Each checkpoint describes itself: it stores its full training config and fingerprints of what it was trained on."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.cf.artifacts import checkpoint_path, provenance, write_trained_variants
from dqrec.cf.fit import TrainConfig, WarmStart, fit_cf, warm_start_from
from dqrec.data.artifacts import read_items, read_split, read_users
from dqrec.quantize.sid_tables import read_sids
from dqrec.training import TrainerConfig
from flows.common import WORKSPACE, publish_metrics, run_stage, section


@task(cache_policy=NO_CACHE)
def train_variant(variant: str, train: TrainConfig, trainer: TrainerConfig,
                  start: WarmStart | None = None) -> tuple[dict | None, WarmStart | None]:
    """The variant's metrics (None on a DDP rank other than 0) and, for base under a warm start, what the SID
    variants start from."""
    config = train.for_variant(variant)
    sids = read_sids(WORKSPACE.sids_dir) if variant != "base" else None
    WORKSPACE.train_dir.mkdir(parents=True, exist_ok=True)
    result = fit_cf(read_split(WORKSPACE.split_dir, "train"), read_split(WORKSPACE.split_dir, "valid"),
                    read_users(WORKSPACE.ingest_dir), read_items(WORKSPACE.ingest_dir), sids, config,
                    checkpoint=checkpoint_path(WORKSPACE, variant), trainer_config=trainer,
                    provenance=provenance(WORKSPACE, variant, config), start=start if variant != "base" else None)
    made = warm_start_from(result, config) if variant == "base" and config.warm_start else None
    if not result.is_global_zero:  # under DDP every process trains; rank 0 reports
        return None, made
    return {"best_epoch": result.best_epoch, "first_epoch": result.first_epoch,
            "epochs": len(result.learning_rates), "val_ndcg@20": max(result.validation_curve),
            "refit": config.refit, "seconds": result.seconds,
            "interactions_per_second": result.trained_interactions / result.seconds,
            "curve": result.validation_curve, "learning_rates": result.learning_rates}, made


@flow(name="train", log_prints=True)
def train_flow() -> dict | None:
    train, trainer = section("train", TrainConfig), section("trainer", TrainerConfig)
    metrics: dict[str, dict | None] = {}
    start = None
    for variant in train.training_order():
        metrics[variant], made = train_variant(variant, train, trainer, start)
        start = made or start
    if any(report is None for report in metrics.values()):
        return None
    write_trained_variants(WORKSPACE, list(metrics))
    WORKSPACE.write_plot_data("train_curves.csv", "variant,epoch,val_ndcg@20\n" + "".join(
        f"{v},{epoch},{value:.6f}\n" for v, m in metrics.items()
        for epoch, value in enumerate(m["curve"], m["first_epoch"])))
    WORKSPACE.write_metrics("train", metrics)
    for variant, values in metrics.items():
        get_run_logger().info("%s: validation NDCG@20 %.4f at epoch %d of %d, %.0f interactions/s", variant,
                              values["val_ndcg@20"], values["best_epoch"], values["epochs"],
                              values["interactions_per_second"])
    per_epoch = ("curve", "learning_rates")
    publish_metrics("train-metrics", {v: {k: x for k, x in m.items() if k not in per_epoch}
                                      for v, m in metrics.items()}, "Validation-selected checkpoints of each variant")
    return metrics


if __name__ == "__main__":
    run_stage(train_flow)
