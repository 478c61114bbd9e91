"""A workspace's files: metrics are results, and timings stay out of them (and out of git)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from dqrec.layout import Workspace, split_timings
from tests.conftest import REPO_ROOT

METRICS = {"item": {"dqvae": {"relative_error": 0.09, "seconds": 2.9, "epochs": 8},
                    "dqvae_over_pq_seconds": 1.7, "dqvae_over_pq_error": 1.003},
           "base": {"best_epoch": 49, "seconds": 80.0, "interactions_per_second": 5e4, "curve": [0.1, 0.2]},
           "users": 943}


def test_timing_keys_are_split_from_results_keeping_the_nesting() -> None:
    results, timings = split_timings(METRICS)

    assert results == {"item": {"dqvae": {"relative_error": 0.09, "epochs": 8}, "dqvae_over_pq_error": 1.003},
                       "base": {"best_epoch": 49, "curve": [0.1, 0.2]}, "users": 943}
    assert timings == {"item": {"dqvae": {"seconds": 2.9}, "dqvae_over_pq_seconds": 1.7},
                       "base": {"seconds": 80.0, "interactions_per_second": 5e4}}


def test_a_stage_writes_results_to_metrics_and_timings_beside_them(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)

    workspace.write_metrics("quantize", METRICS)

    assert "seconds" not in workspace.metrics_file("quantize").read_text()
    assert workspace.read_timings("quantize")["base"]["seconds"] == 80.0
    workspace.write_metrics("quantize", {"users": 943})  # a later version without timings leaves none behind
    assert workspace.read_timings("quantize") == {}
    assert json.loads(workspace.metrics_file("quantize").read_text()) == {"users": 943}


def test_git_ignores_the_timings() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".dqrec/timings/train.json"], cwd=REPO_ROOT)

    assert ignored.returncode == 0
