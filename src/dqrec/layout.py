"""Where the pipeline's artifacts live in a workspace (the root of the DVC repository): one folder per stage, one
metrics file per stage, the plots. The files inside a stage's folder, and their typed reads and writes, belong to
that stage's ``artifacts`` module::

    data/ingest/    dqrec.data.artifacts        interactions, users, items (Parquet), vocab.json, source.json
    data/split/     dqrec.data.artifacts        train, valid, test (Parquet)
    data/pretrain/  dqrec.represent.artifacts   user.npy, item.npy: Z_user, Z_item
    data/svd/       dqrec.quantize.artifacts    user.npz, item.npz: mean, W, sigma, block assignment
    data/quantize/  dqrec.quantize.artifacts    user.ckpt, item.ckpt: DQ-VAE codebooks
    data/sids/      dqrec.quantize.sid_tables   user.parquet, item.parquet (c_1..c_L), code_sizes.json (J)
    data/train/     dqrec.cf.artifacts          <variant>.ckpt (self-describing), variants.json
    data/evaluate/  dqrec.evaluate.artifacts    per_user.parquet: each variant's test metrics per user
    metrics/<stage>.json, metrics/headline.json (evaluate: a handful of numbers per variant), plots/
    .dqrec/last_run.json    dqrec.summary          the last pipeline run's stage times (local, not versioned)
    .dqrec/timings/<stage>.json                    each stage's own timings, split from its metrics (local)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dqrec.io import atomic_file, write_json_atomic

# The pipeline's stages in DAG order (dvc.yaml), each with one folder, one metrics file and one flow.
STAGES = ("ingest", "split", "pretrain", "svd", "quantize", "sids", "train", "evaluate")


# Timings are facts about the machine and its load, not results: a metric whose key matches goes to the
# git-ignored timings file instead of metrics/<stage>.json, so that a rerun with the same params leaves git clean
# and `dvc exp diff` shows results only.
TIMING_KEY = re.compile(r"(^|_)seconds$|_per_second$")


def split_timings(metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``metrics`` as (results, timings): the nested dicts with every timing key moved to the second; branches
    left empty are dropped from either side."""
    results: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            inner_results, inner_timings = split_timings(value)
            if inner_results or not inner_timings:
                results[key] = inner_results
            if inner_timings:
                timings[key] = inner_timings
        elif TIMING_KEY.search(key):
            timings[key] = value
        else:
            results[key] = value
    return results, timings


def _stage_folder(stage: str) -> property:
    return property(lambda self: self.root / "data" / stage, doc=f"data/{stage}/: the {stage} stage's outputs")


@dataclass(frozen=True)
class Workspace:
    root: Path = Path(".")

    ingest_dir = _stage_folder("ingest")
    split_dir = _stage_folder("split")
    pretrain_dir = _stage_folder("pretrain")
    svd_dir = _stage_folder("svd")
    quantize_dir = _stage_folder("quantize")
    sids_dir = _stage_folder("sids")
    train_dir = _stage_folder("train")
    evaluate_dir = _stage_folder("evaluate")

    @property
    def params_file(self) -> Path:
        return self.root / "params.yaml"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"

    @property
    def last_run_file(self) -> Path:
        """How long each stage of the last pipeline run took: a fact about this machine, so git does not track it."""
        return self.root / ".dqrec" / "last_run.json"

    def metrics_file(self, stage: str) -> Path:
        return self.metrics_dir / f"{stage}.json"

    def timings_file(self, stage: str) -> Path:
        """A stage's timings (seconds, throughput): local like the last run's stage times, never versioned."""
        return self.root / ".dqrec" / "timings" / f"{stage}.json"

    def plot_file(self, name: str) -> Path:
        return self.plots_dir / name

    def write_metrics(self, stage: str, metrics: dict[str, Any]) -> None:
        """metrics/<stage>.json gets the results; their timings go to :meth:`timings_file`."""
        results, timings = split_timings(metrics)
        write_json_atomic(self.metrics_file(stage), results)
        if timings:
            write_json_atomic(self.timings_file(stage), timings)
        else:  # none left from an earlier version of the stage
            self.timings_file(stage).unlink(missing_ok=True)

    def read_timings(self, stage: str) -> dict[str, Any]:
        """The timings the last run of ``stage`` in this workspace wrote (empty where it has not run here)."""
        path = self.timings_file(stage)
        return json.loads(path.read_text()) if path.exists() else {}

    def read_metrics(self, stage: str) -> dict[str, Any]:
        return json.loads(self.metrics_file(stage).read_text())

    def write_plot_data(self, name: str, text: str) -> None:
        with atomic_file(self.plot_file(name)) as stream:
            stream.write(text.encode())
