"""Split stage: the canonical protocol (BRIEF §3) over the ingested interactions."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dqrec.data.artifacts import read_interactions, read_source, write_splits
from dqrec.data.split import SPLITS, SplitConfig, SplitMethod, assign_splits, tie_broken_shares
from flows.common import WORKSPACE, publish_metrics, run_stage, section


@task(cache_policy=NO_CACHE)
def split_to_disk(config: SplitConfig) -> dict:
    interactions = read_interactions(WORKSPACE.ingest_dir)
    method = config.method_for(read_source(WORKSPACE.ingest_dir)["split"])
    labels = assign_splits(interactions, method, config.valid_ratio, config.test_ratio, config.seed)
    write_splits(interactions, labels, WORKSPACE.split_dir)
    stats = {"method": method.value}
    parts = {split: interactions[labels == split] for split in SPLITS}
    # Only the temporal protocols break ties by item id; a given split's validation sample is drawn at random.
    tie_broken = tie_broken_shares(parts) if method is not SplitMethod.GIVEN else None
    for split, part in parts.items():
        stats[split] = {"interactions": len(part), "users": int(part["user_id"].nunique()),
                        "items": int(part["item_id"].nunique())}
        if tie_broken is not None:
            stats[split]["tie_broken_share"] = tie_broken[split]
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
