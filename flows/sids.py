"""SIDs stage: semantic IDs for every user and item from the saved codebooks, with codebook diagnostics."""

from __future__ import annotations

import csv
import io

import numpy as np
import torch
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from dqrec.quantize.artifacts import quantizer_checkpoint
from dqrec.quantize.diagnostics import code_usage, summary
from dqrec.quantize.dqvae import DQVAE
from dqrec.quantize.plots import code_usage_plot
from dqrec.quantize.sid_tables import ENTITIES, write_sids
from dqrec.represent.artifacts import read_representations
from flows.common import WORKSPACE, run_stage


@task(cache_policy=NO_CACHE)
def assign(entity: str) -> tuple[np.ndarray, dict, np.ndarray]:
    model = DQVAE.load_from_checkpoint(quantizer_checkpoint(WORKSPACE.quantize_dir, entity)).eval()
    z = read_representations(WORKSPACE.pretrain_dir, entity)
    codes = model.encode(torch.from_numpy(z)).numpy()
    n_codes = model.hparams.n_codes
    reconstruction = model.decode(torch.from_numpy(codes)).numpy()
    return codes, summary(z, codes, reconstruction, n_codes) | {"n_codes": n_codes}, code_usage(codes, n_codes)


def _usage_csv(usage: dict[str, np.ndarray]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["entity", "level", "code", "entities"])
    for entity, levels in usage.items():
        for level, counts in enumerate(levels, start=1):
            writer.writerows([entity, level, code, int(count)] for code, count in enumerate(counts))
    return buffer.getvalue()


@flow(name="sids", log_prints=True)
def sids_flow() -> dict:
    results = {entity: assign(entity) for entity in ENTITIES}
    metrics = {entity: values for entity, (_, values, _) in results.items()}
    usage = {entity: counts for entity, (_, _, counts) in results.items()}
    # The SID tables and their code sizes are all that the CF model reads: train depends on them, not on the
    # codebooks, so a codebook change that leaves every SID as it was retrains nothing.
    write_sids(WORKSPACE.sids_dir, {entity: codes for entity, (codes, _, _) in results.items()},
               {entity: int(values["n_codes"]) for entity, values in metrics.items()})
    WORKSPACE.write_metrics("sids", metrics)
    WORKSPACE.write_plot_data("sids_code_usage.csv", _usage_csv(usage))
    code_usage_plot(usage, WORKSPACE.plot_file("sids_code_usage.png"))
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
