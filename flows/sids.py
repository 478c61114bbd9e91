"""SIDs stage: semantic IDs for every user and item from the saved codebooks, with codebook diagnostics."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from dqrec.io import atomic_file, write_json_atomic
from dqrec.quantize.artifacts import ENTITIES, load_array, sid_table
from dqrec.quantize.diagnostics import code_usage, summary
from dqrec.quantize.dqvae import DQVAE
from dqrec.quantize.plots import code_usage_plot
from flows.common import METRICS_DIR, PLOTS_DIR, run_stage
from flows.pretrain import PRETRAIN_DIR
from flows.quantize import QUANTIZE_DIR

SIDS_DIR = Path("data/sids")


@task(cache_policy=NO_CACHE)
def assign(entity: str) -> tuple[dict, np.ndarray]:
    model = DQVAE.load_from_checkpoint(QUANTIZE_DIR / f"{entity}.ckpt").eval()
    z = load_array(PRETRAIN_DIR / f"{entity}.npy")
    codes = model.encode(torch.from_numpy(z)).numpy()
    table = sid_table(codes, f"{entity}_id")
    with atomic_file(SIDS_DIR / f"{entity}.parquet") as stream:
        table.to_parquet(stream, index=False)
    n_codes = model.hparams.n_codes
    reconstruction = model.decode(torch.from_numpy(codes)).numpy()
    return summary(z, codes, reconstruction, n_codes) | {"n_codes": n_codes}, code_usage(codes, n_codes)


def _usage_csv(usage: dict[str, np.ndarray]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["entity", "level", "code", "entities"])
    for entity, levels in usage.items():
        for level, counts in enumerate(levels, start=1):
            writer.writerows([entity, level, code, int(count)] for code, count in enumerate(counts))
    return buffer.getvalue().encode()


@flow(name="sids", log_prints=True)
def sids_flow() -> dict:
    results = {entity: assign(entity) for entity in ENTITIES}
    metrics = {entity: values for entity, (values, _) in results.items()}
    usage = {entity: counts for entity, (_, counts) in results.items()}
    write_json_atomic(METRICS_DIR / "sids.json", metrics)
    with atomic_file(PLOTS_DIR / "sids_code_usage.csv") as stream:
        stream.write(_usage_csv(usage))
    code_usage_plot(usage, PLOTS_DIR / "sids_code_usage.png")
    logger = get_run_logger()
    for entity, values in metrics.items():
        logger.info("%s SIDs: utilisation %s, collisions %.4f, relative error %.4f", entity,
                    ", ".join(f"{u:.3f}" for u in values["utilisation"]), values["collision_rate"],
                    values["relative_error"])
    rows = [{"entity": entity, "level": level + 1, "utilisation": used, "perplexity": values["perplexity"][level],
             "collision_rate": values["collision_rate"], "relative_error": values["relative_error"]}
            for entity, values in metrics.items() for level, used in enumerate(values["utilisation"])]
    create_table_artifact(key="sids-diagnostics", table=rows, description="Semantic-ID codebook diagnostics")
    return metrics


if __name__ == "__main__":
    run_stage(sids_flow)
