"""Full-ranking evaluation time on the test split, from the trained checkpoints of the current workspace (run the
pipeline on lightgcn-gowalla first for the reference figure).

    python -m benchmarks.evaluate [--variant base]      # from the root of a workspace where the pipeline ran

Prints the wall time of the evaluate stage's work for one variant (item tower, user tower, scoring every item,
masking train + validation items, top 50, metrics and breakdowns; target <= 30 s on gowalla), against the bare
matrix product and top-k of the same shapes without masking or metrics, measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import torch

from dqrec.cf.artifacts import load_trained
from dqrec.data.artifacts import read_source
from dqrec.evaluate.report import KS
from dqrec.evaluate.scoring import attach_test_inputs, score_test
from dqrec.layout import Workspace

TARGET_SECONDS = 30.0


def bare_ranking_seconds(n_users: int, n_items: int, dim: int, k: int, batch_size: int = 1024) -> float:
    """The floor: random unit vectors, one matrix product and top-k per batch, nothing else."""
    generator = torch.Generator().manual_seed(0)
    items = torch.nn.functional.normalize(torch.randn(n_items, dim, generator=generator), dim=-1)
    users = torch.nn.functional.normalize(torch.randn(n_users, dim, generator=generator), dim=-1)
    start = time.perf_counter()
    for offset in range(0, n_users, batch_size):
        torch.topk(users[offset : offset + batch_size] @ items.T, k, dim=1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="base")
    args = parser.parse_args()
    workspace = Workspace()
    dataset = read_source(workspace.ingest_dir)["dataset"]

    model = load_trained(workspace, args.variant)
    inputs = attach_test_inputs(model, workspace)

    start = time.perf_counter()
    report = score_test(model, inputs)
    seconds = time.perf_counter() - start
    floor = bare_ranking_seconds(report["users"], inputs.n_items, model.config.dim, max(KS))

    print(f"{dataset}, variant '{args.variant}': {report['users']:,} test users x {inputs.n_items:,} items")
    print(f"full-ranking evaluation: {seconds:.2f} s (target <= {TARGET_SECONDS:.0f} s: "
          f"{'met' if seconds <= TARGET_SECONDS else 'NOT met'}); Recall@20 {report['recall@20']:.4f}")
    print(f"bare product + top-{max(KS)} of the same shapes: {floor:.2f} s; ratio {seconds / floor:.2f}")
    print(f"{report['users'] / seconds:,.0f} users/s")


if __name__ == "__main__":
    main()
