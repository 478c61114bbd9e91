"""Split stage: the canonical protocol (BRIEF §3) over the ingested interactions."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.data.artifacts import read_interactions, read_source, write_splits
from dqrec.data.split import SPLITS, SplitMethod, assign_splits
from dqrec.io import write_json_atomic
from flows.common import METRICS_DIR, load_params, publish_metrics, run_stage
from flows.ingest import INGEST_DIR

SPLIT_DIR = Path("data/split")
STATS_FILE = METRICS_DIR / "split.json"


@task(cache_policy=NO_CACHE)
def split_to_disk(ingest_dir: Path, out_dir: Path, stats_file: Path, params: dict) -> dict:
    interactions = read_interactions(ingest_dir)
    method = SplitMethod(read_source(ingest_dir)["split"] if params["method"] == "auto" else params["method"])
    labels = assign_splits(interactions, method, float(params["valid_ratio"]), float(params["test_ratio"]),
                           int(params["seed"]))
    write_splits(interactions, labels, out_dir)
    stats = {"method": method.value}
    for split in SPLITS:
        part = interactions[labels == split]
        stats[split] = {"interactions": len(part), "users": int(part["user_id"].nunique()),
                        "items": int(part["item_id"].nunique())}
    write_json_atomic(stats_file, stats)
    return stats


@flow(name="split", log_prints=True)
def split_flow(ingest_dir: Path = INGEST_DIR, out_dir: Path = SPLIT_DIR, stats_file: Path = STATS_FILE) -> dict:
    stats = split_to_disk(ingest_dir, out_dir, stats_file, load_params()["split"])
    get_run_logger().info("split (%s): %s", stats["method"],
                          " / ".join(f"{s} {stats[s]['interactions']}" for s in SPLITS))
    publish_metrics("split-stats", stats, "Interactions, users and items per split")
    return stats


if __name__ == "__main__":
    run_stage(split_flow)
