"""SVD stage: centre and decompose Z_user and Z_item; regroup the singular vectors into balanced blocks."""

from __future__ import annotations

import time

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.quantize.artifacts import ENTITIES, write_basis
from dqrec.quantize.svd import SvdConfig, balanced_blocks, fit_svd
from dqrec.represent.artifacts import read_representations
from flows.common import WORKSPACE, publish_metrics, run_stage, section


@task(cache_policy=NO_CACHE)
def decompose(entity: str, n_blocks: int) -> dict:
    z = read_representations(WORKSPACE.pretrain_dir, entity)
    start = time.perf_counter()
    basis = fit_svd(z)
    blocks = balanced_blocks(basis.singular_values, n_blocks)
    seconds = time.perf_counter() - start
    write_basis(WORKSPACE.svd_dir, entity, basis, blocks)
    return {"balance": blocks.balance, "block_shares": [float(s) for s in blocks.shares], "seconds": seconds,
            "top_direction_share": float(basis.singular_values[0] ** 2 / (basis.singular_values**2).sum())}


@flow(name="svd", log_prints=True)
def svd_flow() -> dict:
    n_blocks = section("svd", SvdConfig).n_blocks
    metrics = {entity: decompose(entity, n_blocks) for entity in ENTITIES}
    WORKSPACE.write_metrics("svd", metrics)
    for entity, values in metrics.items():
        get_run_logger().info("%s: block balance max/min %.4f, shares %s", entity, values["balance"],
                              ", ".join(f"{s:.3f}" for s in values["block_shares"]))
    publish_metrics("svd-metrics", metrics, "Variance balance of the SVD blocks")
    return metrics


if __name__ == "__main__":
    run_stage(svd_flow)
