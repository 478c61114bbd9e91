"""Ingest stage: locate (or acquire) the raw dataset, validate it, write canonical tables and stats."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.data.acquire import data_home, locate_dataset
from dqrec.data.artifacts import write_ingest
from dqrec.data.errors import DataError
from dqrec.data.ingest import IngestConfig, ingest
from flows.common import WORKSPACE, publish_metrics, run_stage, section


def _retry_on_network_errors(task, task_run, state) -> bool:
    # A missing or malformed dataset will not fix itself; only downloads are worth another try.
    try:
        state.result()
    except DataError:
        return False
    except Exception:
        return True
    return False


# DVC decides what is stale, so Prefect caches nothing (NO_CACHE) and only retries downloads.
@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_retry_on_network_errors, cache_policy=NO_CACHE)
def locate(dataset: str) -> Path:
    return locate_dataset(dataset)


@task(cache_policy=NO_CACHE)
def ingest_to_disk(folder: Path, config: IngestConfig) -> dict:
    dataset = ingest(folder, config)
    write_ingest(dataset, WORKSPACE.ingest_dir)
    WORKSPACE.write_metrics("ingest", dataset.stats)
    return dataset.stats


@flow(name="ingest", log_prints=True)
def ingest_flow() -> dict:
    config = section("data", IngestConfig)
    logger = get_run_logger()
    logger.info("dataset %s, data home %s", config.dataset, data_home())
    stats = ingest_to_disk(locate(config.dataset), config)
    logger.info("%s: %d users, %d items, %d interactions", config.dataset, stats["users"], stats["items"],
                stats["interactions"])
    publish_metrics("ingest-stats", stats, f"Ingest statistics of {config.dataset}")
    return stats


if __name__ == "__main__":
    run_stage(ingest_flow)
