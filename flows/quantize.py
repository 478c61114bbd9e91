"""Quantize stage: train DQ-VAE codebooks for users and items; measure them against PQ and RQ references."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from dqrec.io import write_json_atomic
from dqrec.quantize.artifacts import ENTITIES, load_array, load_basis
from dqrec.quantize.compare import choose_n_codes, compare_quantisers
from dqrec.quantize.dqvae import DQVAEConfig, Optimiser
from flows.common import METRICS_DIR, load_params, run_stage
from flows.pretrain import PRETRAIN_DIR
from flows.svd import SVD_DIR

QUANTIZE_DIR = Path("data/quantize")
METHODS = ("dqvae", "pq_same_blocks", "pq_no_rotation", "rq")


def config_from(params: dict) -> DQVAEConfig:
    return DQVAEConfig(beta=float(params["beta"]), optimiser=Optimiser(params["optimiser"]), lr=float(params["lr"]),
                       max_epochs=int(params["max_epochs"]), patience=int(params["patience"]),
                       min_delta=float(params["min_delta"]),
                       batch_size=int(params["batch_size"]), init_iterations=int(params["init_iterations"]),
                       holdout=float(params["holdout"]), seed=int(params["seed"]))


@task(cache_policy=NO_CACHE)
def quantize_entity(entity: str, requested_codes: int | str, config: DQVAEConfig) -> dict:
    z = load_array(PRETRAIN_DIR / f"{entity}.npy")
    basis, blocks = load_basis(SVD_DIR / f"{entity}.npz")
    config = replace(config, n_codes=choose_n_codes(len(z), requested_codes))
    QUANTIZE_DIR.mkdir(parents=True, exist_ok=True)
    comparison = compare_quantisers(z, basis, blocks, config, checkpoint=QUANTIZE_DIR / f"{entity}.ckpt")
    return {"n_entities": len(z), "n_codes": config.n_codes, **comparison.metrics}


@flow(name="quantize", log_prints=True)
def quantize_flow() -> dict:
    params = load_params()["quantize"]
    config = config_from(params)
    metrics = {entity: quantize_entity(entity, params[f"{entity}_codes"], config) for entity in ENTITIES}
    write_json_atomic(METRICS_DIR / "quantize.json", metrics)
    logger = get_run_logger()
    rows = []
    for entity, values in metrics.items():
        logger.info("%s (J=%d): DQ-VAE relative error %.4f = %.4f x PQ in the same blocks, %.2f x its time",
                    entity, values["n_codes"], values["dqvae"]["relative_error"], values["dqvae_over_pq_error"],
                    values["dqvae_over_pq_seconds"])
        rows += [{"entity": entity, "method": m, **{k: values[m][k] for k in
                  ("relative_error", "held_out_relative_error", "utilisation_min", "collision_rate", "seconds")}}
                 for m in METHODS]
    create_table_artifact(key="quantize-comparison", table=rows,
                          description="DQ-VAE against per-block k-means, PQ without rotation and RQ")
    return metrics


if __name__ == "__main__":
    run_stage(quantize_flow)
