"""The pipeline: `dvc repro` decides which stages are stale and runs them (each stage is its own flow and
publishes its own metrics as Prefect artifacts); this flow runs it, streams its log, times each stage and ends with
the one-screen report (`dqrec.summary`), also published as a Prefect artifact."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from dqrec.summary import StageRun, render, stage_lines, write_stage_runs
from flows.common import WORKSPACE, StageFailed, quiet_tracebacks_for_bad_input
from flows.run_server import run_server

_RUNNING = re.compile(r"^Running stage '(\w+)'")
_UP_TO_DATE = re.compile(r"^Stage '(\w+)' didn't change, skipping")


def _environment() -> dict[str, str]:
    # Stage commands say `python`; it must be this interpreter, with this project's packages.
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


@task(cache_policy=NO_CACHE)
def dvc_repro(targets: list[str], force: bool) -> list[StageRun]:
    """Run `dvc repro`, echoing its output; each stage's wall time, or None where DVC found it up to date."""
    logger = get_run_logger()
    command = [sys.executable, "-m", "dvc", "repro", *(["--force"] if force else []), *targets]
    logger.info("running %s", " ".join(command[2:]))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=_environment())
    assert process.stdout is not None
    runs: list[StageRun] = []
    current: tuple[str, float] | None = None

    def close_current() -> None:
        if current is not None:
            runs.append(StageRun(current[0], time.perf_counter() - current[1]))

    for line in process.stdout:
        print(line, end="", flush=True)
        if started := _RUNNING.match(line):
            close_current()
            current = (started.group(1), time.perf_counter())
        elif skipped := _UP_TO_DATE.match(line):
            close_current()
            current = None
            runs.append(StageRun(skipped.group(1), None))
    close_current()
    if process.wait() != 0:
        raise StageFailed(f"dvc repro failed with exit code {process.returncode}; its output is above")
    return runs


@flow(name="dqrec-pipeline")
def pipeline(targets: list[str] | None = None, force: bool = False) -> str:
    """Bring every artifact up to date with params.yaml and the code, then report."""
    runs = dvc_repro(targets or [], force)
    write_stage_runs(WORKSPACE.last_run_file, runs)
    try:
        report = render(WORKSPACE, runs)
    except FileNotFoundError as missing:  # a partial run before any evaluation: the times are all there is
        report = "\n".join([*stage_lines(runs), f"(no report yet: {missing})"])
    create_markdown_artifact(key="pipeline-report", markdown=f"```\n{report}\n```",
                             description="Full DQRec against its baseline, SID health and stage times")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("targets", nargs="*", help="stages to bring up to date (default: all)")
    parser.add_argument("--force", action="store_true", help="rerun the stages even if nothing changed")
    args = parser.parse_args()
    quiet_tracebacks_for_bad_input()
    with run_server():
        state = pipeline(args.targets, args.force, return_state=True)
    if not state.is_completed():
        sys.exit(1)
    print("\n" + state.result())


if __name__ == "__main__":
    main()
