"""Quantize stage: train DQ-VAE codebooks for users and items; measure them against PQ and RQ references."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from dqrec.quantize.artifacts import ENTITIES, quantizer_checkpoint, read_basis
from dqrec.quantize.compare import QuantizeConfig, compare_quantisers
from dqrec.represent.artifacts import read_representations
from dqrec.training import TrainerConfig
from flows.common import WORKSPACE, run_stage, section

METHODS = ("dqvae", "pq_same_blocks", "pq_no_rotation", "rq")


@task(cache_policy=NO_CACHE)
def quantize_entity(entity: str, config: QuantizeConfig, trainer: TrainerConfig) -> dict:
    z = read_representations(WORKSPACE.pretrain_dir, entity)
    basis, blocks = read_basis(WORKSPACE.svd_dir, entity)
    dqvae = config.for_entity(entity, len(z))
    comparison = compare_quantisers(z, basis, blocks, dqvae, quantizer_checkpoint(WORKSPACE.quantize_dir, entity),
                                    trainer)
    return {"n_entities": len(z), "n_codes": dqvae.n_codes, **comparison.metrics}


@flow(name="quantize", log_prints=True)
def quantize_flow() -> dict:
    config, trainer = section("quantize", QuantizeConfig), section("trainer", TrainerConfig)
    metrics = {entity: quantize_entity(entity, config, trainer) for entity in ENTITIES}
    WORKSPACE.write_metrics("quantize", metrics)
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
