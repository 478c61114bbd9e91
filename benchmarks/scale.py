"""How each stage's cost grows with the data: the pipeline on seeded synthetic data of about 1M, 4M and 16M
interactions (users and items growing with them, Zipf-like popularity, long-tailed activity, item attributes).

    python benchmarks/scale.py                      # 1M, 4M, 16M: about an hour on 2 cores
    python benchmarks/scale.py --sizes 0.25M,0.5M,1M --keep

Each size runs every stage once in a fresh workspace (a copy of this repository) with training cut to a fixed number
of epochs (--set overrides any param), so that what is measured is the cost per epoch, not how many epochs a dataset
needs. Validation during training and the test evaluation score a seeded sample of users (train.valid_users,
evaluate.max_users), as they would on a catalogue this size. Prints, per stage and size, the wall time and the
stage process's peak RSS, the growth exponent k fitted across the sizes (time ∝ interactions^k, least squares on
logs) and the cost the stage is expected to have. Then, on the largest catalogue, serving: exact top-20 against the
approximate indexes (faiss IVF and HNSW) for sampled users and for sampled items as queries, recall@20 and speed-up.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if not __package__:  # run as a script: make the repository's packages (benchmarks, flows) importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pipeline import workspace_copy  # noqa: E402

from dqrec.cf.serving import (  # noqa: E402
    IndexConfig,
    IndexKind,
    build_index,
    exact_top_items,
    first_usable,
    item_matrix,
    load_served,
    recall_against_exact,
    search_index,
)
from dqrec.data.synthetic import SyntheticConfig, write_synthetic  # noqa: E402
from dqrec.layout import STAGES, Workspace  # noqa: E402
from flows.run_server import run_server  # noqa: E402

# Training cut to what measures a cost per epoch; the samples bound validation and test ranking.
BENCHMARK_PARAMS = (
    "pretrain.epochs=1",
    "quantize.max_epochs=3",
    "quantize.patience=3",
    "train.epochs=1",
    "train.variants=[full]",
    "train.valid_users=10000",
    "evaluate.max_users=10000",
)
# What each stage's cost should grow with: N interactions, U users, I items, d dims, L levels, J codes, S sample.
EXPECTED = {
    "ingest": "N (parse, validate, sort)",
    "split": "N log N (sort per user)",
    "pretrain": "N per epoch",
    "svd": "(U + I) d²",
    "quantize": "(U + I) J d per epoch",
    "sids": "(U + I) L",
    "train": "N per epoch + S·I validation",
    "evaluate": "S·I·d (S sampled users)",
}
TARGET_EXPONENT = 1.2
TARGET_RSS_GB = 16.0
TARGET_RECALL = 0.95
SERVING_USERS = 10_000  # the users whose top-20 the serving comparison ranks
# Three search widths per kind, the widest the default (one index built per kind).
SERVING_INDEXES = (IndexConfig(IndexKind.IVF, n_probe=8), IndexConfig(IndexKind.IVF, n_probe=32),
                   IndexConfig(IndexKind.IVF, n_probe=128), IndexConfig(IndexKind.HNSW, ef_search=32),
                   IndexConfig(IndexKind.HNSW, ef_search=128), IndexConfig(IndexKind.HNSW, ef_search=512))


def size_of(label: str) -> int:
    """'1M' -> 1_000_000, '250k' -> 250_000, '0.5M' -> 500_000."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", label)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size such as 250k, 1M or 0.5M, got {label!r}")
    return round(float(match[1]) * {"": 1, "k": 1e3, "m": 1e6}[match[2].lower()])


@dataclass
class StageCost:
    seconds: float
    peak_rss_gb: float


def run_stage(root: Path, stage: str, env: dict[str, str], log: Path) -> StageCost:
    """Run one stage's entry point in ``root``; its wall time and the peak RSS it reports of itself (the
    high-water mark of its own address space: the wait status's ru_maxrss would count this process's size too, which
    the stage had before it exec'd)."""
    with log.open("a") as out:
        out.write(f"\n=== {stage}\n")
        out.flush()
        start = time.perf_counter()
        finished = subprocess.run([sys.executable, "-m", f"flows.{stage}"], cwd=root, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
    output = log.read_text().rpartition(f"=== {stage}\n")[2]
    if finished.returncode != 0:
        tail = "".join(output.splitlines(keepends=True)[-30:])
        sys.exit(f"{stage} failed (exit {finished.returncode}); the end of {log}:\n{tail}")
    reported = re.findall(rf"^{stage}: peak RSS (\d+\.\d+) GB$", output, re.M)
    return StageCost(seconds, float(reported[-1]))


def growth_exponent(sizes: list[int], values: list[float]) -> float:
    """k of values ∝ sizes^k, least squares on logs."""
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=lambda text: [size_of(s) for s in text.split(",")],
                        default=[1_000_000, 4_000_000, 16_000_000], help="comma-separated, e.g. 1M,4M,16M")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one param (repeatable), after the benchmark's own")
    parser.add_argument("--seed", type=int, default=0, help="of the synthetic data")
    parser.add_argument("--keep", action="store_true", help="keep the workspaces and print their paths")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="dqrec-scale-"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DQREC_DATA_HOME": str(scratch / "raw"),
           "GIT_AUTHOR_NAME": "benchmark", "GIT_AUTHOR_EMAIL": "benchmark@dqrec.invalid",
           "GIT_COMMITTER_NAME": "benchmark", "GIT_COMMITTER_EMAIL": "benchmark@dqrec.invalid"}
    costs: dict[int, dict[str, StageCost]] = {}
    shapes: dict[int, dict[str, int]] = {}
    started = time.perf_counter()
    try:
        for size in args.sizes:
            name = f"synthetic-{size}"
            generated = time.perf_counter()
            shapes[size] = write_synthetic(SyntheticConfig(interactions=size, seed=args.seed),
                                           scratch / "raw" / name)
            print(f"\n{name}: {shapes[size]['interactions']:,} interactions, {shapes[size]['users']:,} users, "
                  f"{shapes[size]['items']:,} items (generated in {time.perf_counter() - generated:.0f} s)",
                  flush=True)
            root = scratch / name
            root.mkdir()
            workspace_copy(root, name, None, [*BENCHMARK_PARAMS, *args.overrides], env)
            costs[size] = {}
            with run_server(root) as api_url:  # started before the clock, shared by the stages
                stage_env = {**env, "PREFECT_API_URL": api_url, "PYTHONPATH": env["PYTHONPATH"]}
                for stage in STAGES:
                    cost = run_stage(root, stage, stage_env, scratch / f"{name}.log")
                    costs[size][stage] = cost
                    print(f"  {stage:<9} {cost.seconds:8.1f} s   peak RSS {cost.peak_rss_gb:6.2f} GB", flush=True)
            if size != args.sizes[-1] and not args.keep:
                shutil.rmtree(root)
        print_table(args.sizes, shapes, costs)
        print_serving(scratch / f"synthetic-{args.sizes[-1]}", args.seed)
        print(f"\nwhole benchmark: {(time.perf_counter() - started) / 60:.1f} min")
    finally:
        if args.keep:
            print(f"workspaces kept under {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def print_table(sizes: list[int], shapes: dict[int, dict[str, int]], costs: dict[int, dict[str, StageCost]]
                ) -> None:
    interactions = [shapes[s]["interactions"] for s in sizes]
    heads = "".join(f" {f'{n / 1e6:.2f}M':>17}" for n in interactions)
    print(f"\n{'stage':<9}{heads}  {'k time':>7} {'k RSS':>6}  expected")
    print(f"{'':<9}{' seconds   RSS GB' * len(sizes)}")
    for stage in STAGES:
        cells = "".join(f" {costs[s][stage].seconds:8.1f} {costs[s][stage].peak_rss_gb:8.2f}" for s in sizes)
        k_time = growth_exponent(interactions, [costs[s][stage].seconds for s in sizes])
        k_rss = growth_exponent(interactions, [costs[s][stage].peak_rss_gb for s in sizes])
        flag = "" if stage == "evaluate" or k_time <= TARGET_EXPONENT else f"  (k > {TARGET_EXPONENT})"
        print(f"{stage:<9}{cells}  {k_time:7.2f} {k_rss:6.2f}  {EXPECTED[stage]}{flag}")
    largest = max(costs[sizes[-1]].values(), key=lambda c: c.peak_rss_gb)
    print(f"\npeak RSS at {interactions[-1]:,} interactions: {largest.peak_rss_gb:.2f} GB "
          f"(target <= {TARGET_RSS_GB:.0f} GB: {'met' if largest.peak_rss_gb <= TARGET_RSS_GB else 'NOT met'})")


def print_serving(root: Path, seed: int, k: int = 20) -> None:
    """Exact top-k against each approximate index on the trained variant of ``root``, for a sample of users, and for a
    sample of items as queries (similar items: a ranking of the same catalogue that differs from query to query,
    where a briefly trained model recommends much the same popular items to every user)."""
    served = load_served(Workspace(root), "full")
    model, known = served.model, served.known
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(len(served.users), size=min(SERVING_USERS, len(served.users)), replace=False))
    items = item_matrix(model)
    start = time.perf_counter()
    exact_users = exact_top_items(model, users, known, k).items
    user_seconds = time.perf_counter() - start
    chosen = np.sort(rng.choice(len(items), size=min(SERVING_USERS, len(items) - 1), replace=False))
    queries = items[chosen].copy()
    queries[:, -2:] = (1.0, 0.0)  # [v_j, 1, 0]: item j's direction, the bias picked up, the level ignored
    start = time.perf_counter()
    exact_items = _without_self(_exact_inner_product(items, queries, k + 1), chosen, k)
    item_seconds = time.perf_counter() - start
    print(f"\nserving top-{k} on the largest catalogue ({model.n_items:,} items), {len(users):,} users and "
          f"{len(chosen):,} items as queries; distinct items in the exact top {k}: "
          f"{len(np.unique(exact_users)):,} (users), {len(np.unique(exact_items)):,} (items)")
    print(f"  {'index':<32} {'build s':>8} | {'users: s':>9} {'speed-up':>9} {'recall@20':>10} | "
          f"{'items: s':>9} {'speed-up':>9} {'recall@20':>10}")
    print(f"  {'exact (every item scored)':<32} {'-':>8} | {user_seconds:9.2f} {1:9.2f} {1:10.4f} | "
          f"{item_seconds:9.2f} {1:9.2f} {1:10.4f}")
    indexes: dict[IndexKind, tuple[object, float]] = {}
    for config in SERVING_INDEXES:
        if config.kind not in indexes:  # one build per kind; the search settings vary
            start = time.perf_counter()
            indexes[config.kind] = build_index(items, config), time.perf_counter() - start
        index, built = indexes[config.kind]
        if config.kind is IndexKind.IVF:
            index.nprobe = config.n_probe
            label = f"ivf ({index.nlist:,} cells, {config.n_probe} probed)"
        else:
            index.hnsw.efSearch = config.ef_search
            label = f"hnsw (M {config.hnsw_neighbours}, ef {config.ef_search})"
        start = time.perf_counter()
        found_users = search_index(index, model, users, known, k).items
        searched_users = time.perf_counter() - start
        start = time.perf_counter()
        found_items = _without_self(index.search(queries, k + 1)[1], chosen, k)
        searched_items = time.perf_counter() - start
        recalls = recall_against_exact(found_users, exact_users), recall_against_exact(found_items, exact_items)
        flag = "" if min(recalls) >= TARGET_RECALL else f"  (< {TARGET_RECALL})"
        print(f"  {label:<32} {built:8.1f} | {searched_users:9.2f} {user_seconds / searched_users:9.2f} "
              f"{recalls[0]:10.4f} | {searched_items:9.2f} {item_seconds / searched_items:9.2f} {recalls[1]:10.4f}"
              f"{flag}")


def _exact_inner_product(items: np.ndarray, queries: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """(Q, k) the items of largest inner product with each query, best first (brute force, in chunks)."""
    result = np.empty((len(queries), k), dtype=np.int64)
    for first in range(0, len(queries), chunk):
        scores = queries[first : first + chunk] @ items.T  # (chunk, I)
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        result[first : first + chunk] = np.take_along_axis(top, order, axis=1)
    return result


def _without_self(ranked: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Each row's first k items other than the query item itself (-1 pads where fewer remain)."""
    usable = (ranked != queries[:, None]) & (ranked >= 0)
    return first_usable(ranked, np.zeros(ranked.shape, dtype=np.float32), usable, k).items


if __name__ == "__main__":
    main()
