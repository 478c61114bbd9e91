"""Train stage: the two-tower CF model in each variant (baseline and SID-augmented), selected on validation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.cf.fit import VARIANTS, FitConfig, Sids, fit_cf
from dqrec.cf.model import CFConfig, Loss, TwoTowerCF
from dqrec.data.artifacts import ITEMS, USERS, read_split
from dqrec.io import atomic_file, write_json_atomic
from flows.common import METRICS_DIR, PLOTS_DIR, load_params, publish_metrics, run_stage
from flows.ingest import INGEST_DIR
from flows.quantize import QUANTIZE_DIR
from flows.sids import SIDS_DIR
from flows.split import SPLIT_DIR

TRAIN_DIR = Path("data/train")
MODEL_KEYS = ("dim", "history_weight", "history_dropout", "audience_weight", "neighbour_weight", "linkage_loss_weight",
              "n_negatives", "margin", "negative_weight", "temperature", "in_batch_negatives", "item_bias", "dropout",
              "lr", "weight_decay", "feature_towers", "sid_dropout")


def fit_config(params: dict, variant: str) -> FitConfig:
    features, linkage = VARIANTS[variant]
    model = CFConfig(sid_features=features, linkage=linkage, loss=Loss(params["loss"]),
                     **{key: type(getattr(CFConfig, key))(params[key]) for key in MODEL_KEYS})
    return FitConfig(model=model, epochs=int(params["epochs"]), patience=int(params["patience"]),
                     batch_size=int(params["batch_size"]), max_history=int(params["max_history"]),
                     min_shared=int(params["min_shared"]), max_neighbours=int(params["max_neighbours"]),
                     seed=int(params["seed"]), refit=bool(params["refit"]),
                     lr_decay=float(params["lr_decay"]), lr_decay_patience=int(params["lr_decay_patience"]))


def load_sids() -> Sids:
    codes = {e: pd.read_parquet(SIDS_DIR / f"{e}.parquet").filter(like="c_").to_numpy(copy=True)  # writable
             for e in ("user", "item")}
    sizes = {e: torch.load(QUANTIZE_DIR / f"{e}.ckpt", weights_only=True)["hyper_parameters"]["n_codes"]
             for e in ("user", "item")}
    return Sids(codes["user"], codes["item"], sizes["user"], sizes["item"])


def load_trained(variant: str) -> TwoTowerCF:
    """The validation-selected checkpoint of a trained variant, on the CPU, in eval mode."""
    checkpoint = TRAIN_DIR / f"{variant}.ckpt"
    if not checkpoint.exists():
        raise FileNotFoundError(f"{checkpoint} not found: train variant '{variant}' first (list it in "
                                "train.variants in params.yaml, then run `dvc repro train` or `make pipeline`)")
    return TwoTowerCF.load_from_checkpoint(checkpoint, map_location=torch.device("cpu")).eval()


def train_report(variant: str) -> dict:
    """What the train stage reported of ``variant`` (best epoch, whether it was refit, ...)."""
    path = METRICS_DIR / "train.json"
    trained = json.loads(path.read_text()) if path.exists() else {}
    if variant not in trained:
        raise FileNotFoundError(f"{path} has no variant '{variant}' (it has: {', '.join(trained) or 'none'}); "
                                "add it to train.variants in params.yaml and run `dvc repro train`")
    return trained[variant]


@task(cache_policy=NO_CACHE)
def train_variant(variant: str, params: dict) -> dict:
    train = read_split(SPLIT_DIR, "train")
    config = fit_config(params, variant)
    sids = load_sids() if variant != "base" else None
    TRAIN_DIR.mkdir(parents=True, exist_ok=True)
    result = fit_cf(train, read_split(SPLIT_DIR, "valid"), pd.read_parquet(INGEST_DIR / USERS),
                    pd.read_parquet(INGEST_DIR / ITEMS), sids, config, checkpoint=TRAIN_DIR / f"{variant}.ckpt")
    return {"best_epoch": result.best_epoch, "epochs": len(result.validation_curve),
            "val_ndcg@20": max(result.validation_curve), "refit": config.refit, "seconds": result.seconds,
            "interactions_per_second": result.trained_interactions / result.seconds,
            "curve": result.validation_curve, "learning_rates": result.learning_rates}


@flow(name="train", log_prints=True)
def train_flow() -> dict:
    params = load_params()["train"]
    unknown = [v for v in params["variants"] if v not in VARIANTS]
    if unknown:
        raise ValueError(f"params.yaml train.variants: unknown {unknown}; expected some of {list(VARIANTS)}")
    metrics = {variant: train_variant(variant, params) for variant in params["variants"]}
    curves = "variant,epoch,val_ndcg@20\n" + "".join(
        f"{v},{epoch},{value:.6f}\n" for v, m in metrics.items() for epoch, value in enumerate(m["curve"], 1))
    with atomic_file(PLOTS_DIR / "train_curves.csv") as stream:
        stream.write(curves.encode())
    write_json_atomic(METRICS_DIR / "train.json", metrics)
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
