"""Split stage: the canonical protocol (BRIEF §3) over the ingested interactions."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.data.artifacts import read_interactions, read_source, write_splits
from dqrec.data.split import SPLITS, SplitConfig, assign_splits
from flows.common import WORKSPACE, publish_metrics, run_stage, section


@task(cache_policy=NO_CACHE)
def split_to_disk(config: SplitConfig) -> dict:
    interactions = read_interactions(WORKSPACE.ingest_dir)
    method = config.method_for(read_source(WORKSPACE.ingest_dir)["split"])
    labels = assign_splits(interactions, method, config.valid_ratio, config.test_ratio, config.seed)
    write_splits(interactions, labels, WORKSPACE.split_dir)
    stats = {"method": method.value}
    for split in SPLITS:
        part = interactions[labels == split]
        stats[split] = {"interactions": len(part), "users": int(part["user_id"].nunique()),
                        "items": int(part["item_id"].nunique())}
    WORKSPACE.write_metrics("split", stats)
    return stats


@flow(name="split", log_prints=True)
def split_flow() -> dict:
    stats = split_to_disk(section("split", SplitConfig))
    get_run_logger().info("split (%s): %s", stats["method"],
                          " / ".join(f"{s} {stats[s]['interactions']}" for s in SPLITS))
    publish_metrics("split-stats", stats, "Interactions, users and items per split")
    return stats


if __name__ == "__main__":
    run_stage(split_flow)
