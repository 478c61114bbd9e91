"""SVD stage: centre and decompose Z_user and Z_item; regroup the singular vectors into balanced blocks."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.io import write_json_atomic
from dqrec.quantize.artifacts import ENTITIES, load_array, save_basis
from dqrec.quantize.svd import balanced_blocks, fit_svd
from flows.common import METRICS_DIR, load_params, publish_metrics, run_stage
from flows.pretrain import PRETRAIN_DIR

SVD_DIR = Path("data/svd")


@task(cache_policy=NO_CACHE)
def decompose(entity: str, n_blocks: int) -> dict:
    z = load_array(PRETRAIN_DIR / f"{entity}.npy")
    start = time.perf_counter()
    basis = fit_svd(z)
    blocks = balanced_blocks(basis.singular_values, n_blocks)
    seconds = time.perf_counter() - start
    save_basis(SVD_DIR / f"{entity}.npz", basis, blocks)
    return {"balance": blocks.balance, "block_shares": [float(s) for s in blocks.shares], "seconds": seconds,
            "top_direction_share": float(basis.singular_values[0] ** 2 / (basis.singular_values**2).sum())}


@flow(name="svd", log_prints=True)
def svd_flow() -> dict:
    n_blocks = int(load_params()["svd"]["n_blocks"])
    metrics = {entity: decompose(entity, n_blocks) for entity in ENTITIES}
    write_json_atomic(METRICS_DIR / "svd.json", metrics)
    for entity, values in metrics.items():
        get_run_logger().info("%s: block balance max/min %.4f, shares %s", entity, values["balance"],
                              ", ".join(f"{s:.3f}" for s in values["block_shares"]))
    publish_metrics("svd-metrics", metrics, "Variance balance of the SVD blocks")
    return metrics


if __name__ == "__main__":
    run_stage(svd_flow)
