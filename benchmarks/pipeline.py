"""The whole pipeline (ingest -> evaluate, every variant in train.variants) on one dataset, in a throwaway copy of
this repository, timed stage by stage.

    python benchmarks/pipeline.py [--dataset lightgcn-gowalla] [--variants base,full] [--set train.refit=true] [--keep]

Prints the wall time of `dvc repro` (target <= 45 min on gowalla), each stage's share and peak RSS, the peak
RSS of the largest stage process (target <= 8 GB), the training throughput of each variant (interactions per
second, from the train stage's timings file) and the test metrics. Raw data comes from $DQREC_DATA_HOME (default: the
shared datasets folder beside the repository when present).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from dqrec.configtree import PER_DATASET, for_dataset
from dqrec.layout import Workspace

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_MINUTES = 45.0
TARGET_RSS_GB = 8.0


def override(params: dict, assignment: str) -> None:
    """Apply one ``section.key=value`` (value read as YAML) to params.yaml's contents; only existing keys."""
    key, sep, value = assignment.partition("=")
    section, _, name = key.partition(".")
    if not sep or section not in params or name not in params[section]:
        raise SystemExit(f"--set {assignment}: expected section.key=value with a key params.yaml has")
    params[section][name] = yaml.safe_load(value)


def workspace_copy(root: Path, dataset: str, variants: list[str] | None, overrides: list[str],
                   env: dict[str, str]) -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        source = REPO_ROOT / name
        # The copy starts from nothing: no committed lock or artifacts of another dataset.
        if source.is_file() and name != "dvc.lock" and not name.startswith(("metrics/", "plots/")):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    # The copy runs its own code: the editable install would otherwise import the checkout's src/, which may
    # change while a long benchmark runs.
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root)])
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["dataset"] = dataset
    # The workspace states what it runs with: the dataset's committed settings written into the sections (so that
    # --set overrides them, and a saved run's params.yaml needs nothing else to be read); the stages still declare
    # the emptied section.
    params = for_dataset(params) | {PER_DATASET: {}}
    if variants:
        params["train"]["variants"] = variants
    for assignment in overrides:
        override(params, assignment)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "benchmark"]):
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)


def stage_seconds(log: str) -> dict[str, float]:
    """Each stage's wall time, from the timestamps the benchmark adds to dvc's 'Running stage' lines."""
    starts = [(float(t), name) for t, name in re.findall(r"^\[(\d+\.\d+)\] Running stage '(\w+)'", log, re.M)]
    end = float(re.findall(r"^\[(\d+\.\d+)\]", log, re.M)[-1])
    bounds = [t for t, _ in starts[1:]] + [end]
    return {name: bound - t for (t, name), bound in zip(starts, bounds, strict=True)}


def stage_peak_rss(log: str) -> dict[str, float]:
    """Each stage's peak RSS in GB, from the line its entry point prints when it completes (flow name = stage)."""
    found = re.findall(r"^\[\d+\.\d+\] (\w+): peak RSS (\d+\.\d+) GB$", log, re.M)
    return {name: float(gb) for name, gb in found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="lightgcn-gowalla")
    parser.add_argument("--variants", type=lambda text: text.split(","), default=None,
                        help="comma-separated train.variants (default: params.yaml's), e.g. base,feature,linkage,full")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one param of the copy's params.yaml (repeatable), e.g. train.lr_decay=0.5")
    parser.add_argument("--keep", action="store_true", help="keep the workspace and print its path")
    args = parser.parse_args()
    shared = REPO_ROOT.parent / "shared" / "datasets"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DQREC_DATA_HOME": os.environ.get("DQREC_DATA_HOME", str(shared if shared.is_dir() else "data/raw")),
           "GIT_AUTHOR_NAME": "benchmark", "GIT_AUTHOR_EMAIL": "benchmark@dqrec.invalid",
           "GIT_COMMITTER_NAME": "benchmark", "GIT_COMMITTER_EMAIL": "benchmark@dqrec.invalid"}
    root = Path(tempfile.mkdtemp(prefix="dqrec-benchmark-"))
    try:
        workspace_copy(root, args.dataset, args.variants, args.overrides, env)
        print(f"{args.dataset}: dvc repro in a fresh workspace (progress below)", flush=True)
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=root, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lines = []
        for line in process.stdout:
            lines.append(f"[{time.perf_counter() - start:.1f}] {line}")
            if line.startswith("Running stage") or "validation NDCG@20" in line:
                print(f"  {time.perf_counter() - start:7.0f} s  {line.strip()}", flush=True)
        if process.wait() != 0:
            sys.exit("dvc repro failed:\n" + "".join(lines[-40:]))
        seconds = time.perf_counter() - start
        # ru_maxrss of waited-for children covers their descendants: the largest stage process, in KiB.
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20

        print(f"\nwhole pipeline: {seconds / 60:.1f} min (target <= {TARGET_MINUTES:.0f} min: "
              f"{'met' if seconds / 60 <= TARGET_MINUTES else 'NOT met'})")
        print(f"peak RSS: {peak_gb:.2f} GB (target <= {TARGET_RSS_GB:.0f} GB: "
              f"{'met' if peak_gb <= TARGET_RSS_GB else 'NOT met'})")
        log = "".join(lines)
        peaks = stage_peak_rss(log)
        for stage, stage_time in stage_seconds(log).items():
            peak = f"{peaks[stage]:6.2f} GB" if stage in peaks else "     – GB"
            print(f"  {stage:<9} {stage_time:7.1f} s  {stage_time / seconds:6.1%}  peak RSS {peak}")
        workspace = Workspace(root)
        train, timings = workspace.read_metrics("train"), workspace.read_timings("train")
        test = workspace.read_metrics("evaluate")
        for variant, values in train.items():
            timing = timings[variant]
            print(f"{variant}: {timing['seconds']:.0f} s training, {timing['interactions_per_second']:,.0f} "
                  f"interactions/s over {values['epochs']} epochs (best {values['best_epoch']}); "
                  f"test Recall@20 {test[variant]['recall@20']:.4f}, NDCG@20 {test[variant]['ndcg@20']:.4f}")
    finally:
        if args.keep:
            print(f"workspace kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
