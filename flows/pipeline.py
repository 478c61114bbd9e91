"""The pipeline: `dvc repro` decides which stages are stale and runs them (each stage is its own flow and
publishes its own metrics as Prefect artifacts); this flow runs it, streams its log and sums up the metrics."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.common import WORKSPACE, StageFailed, flatten, quiet_tracebacks_for_bad_input, shared_prefect_server


def _environment() -> dict[str, str]:
    # Stage commands say `python`; it must be this interpreter, with this project's packages.
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


@task(cache_policy=NO_CACHE)
def dvc_repro(targets: list[str], force: bool) -> None:
    logger = get_run_logger()
    command = [sys.executable, "-m", "dvc", "repro", *(["--force"] if force else []), *targets]
    logger.info("running %s", " ".join(command[2:]))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=_environment())
    assert process.stdout is not None
    for line in process.stdout:
        print(line, end="", flush=True)
    if process.wait() != 0:
        raise StageFailed(f"dvc repro failed with exit code {process.returncode}; its output is above")


@task(cache_policy=NO_CACHE)
def collect_metrics() -> dict[str, dict]:
    return {path.stem: WORKSPACE.read_metrics(path.stem) for path in sorted(WORKSPACE.metrics_dir.glob("*.json"))}


@flow(name="dqrec-pipeline")
def pipeline(targets: list[str] | None = None, force: bool = False) -> dict[str, dict]:
    """Bring every artifact up to date with params.yaml and the code, then report the metrics."""
    dvc_repro(targets or [], force)
    return collect_metrics()


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        values = [_shown(v) for v in value]
        return f"[{', '.join(values)}]" if len(values) <= 4 else f"[{values[0]} ... {values[-1]}] ({len(values)})"
    return str(value)


def _print_metrics(metrics: dict[str, dict]) -> None:
    for name, values in metrics.items():
        print(f"\n{name}")
        for key, value in flatten(values).items():
            print(f"  {key:<52} {_shown(value)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("targets", nargs="*", help="stages to bring up to date (default: all)")
    parser.add_argument("--force", action="store_true", help="rerun the stages even if nothing changed")
    args = parser.parse_args()
    quiet_tracebacks_for_bad_input()
    with shared_prefect_server():
        state = pipeline(args.targets, args.force, return_state=True)
    if not state.is_completed():
        sys.exit(1)
    _print_metrics(state.result())


if __name__ == "__main__":
    main()
