"""What every flow shares: the workspace and its params, metrics published as Prefect artifacts, and the stage
entry point that turns bad input (data or params) into a one-screen report and a non-zero exit."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from prefect.artifacts import create_table_artifact
from prefect.states import State

from dqrec.allocator import peak_rss_gb, retain_freed_memory
from dqrec.configtree import ConfigError, flatten, load_section
from dqrec.data.errors import DataError
from dqrec.layout import Workspace
from flows.run_server import run_server

# prefect.toml routes the library's logger to the run logs (extra_loggers); its level is set here because the
# root logger's WARNING would otherwise hide the library's progress messages.
logging.getLogger("dqrec").setLevel(logging.INFO)

T = TypeVar("T")
WORKSPACE = Workspace(Path("."))  # stages run at the root of the DVC repository


def section(name: str, config_class: type[T]) -> T:
    """One section of the workspace's params.yaml, typed (an unknown key or section fails with its name)."""
    return load_section(WORKSPACE.params_file, name, config_class)


def publish_metrics(key: str, metrics: dict[str, Any], description: str) -> None:
    """Show a metrics dict in the Prefect UI as a table artifact (one row per metric)."""
    rows = [{"metric": k, "value": v} for k, v in flatten(metrics).items()]
    create_table_artifact(key=key, table=rows, description=description)


class StageFailed(RuntimeError):
    """A pipeline stage failed and has already said why in its own output."""


class _NoTracebackForBadInput(logging.Filter):
    """Bad input is the user's to fix, not a bug: its log records carry the one-line summary and no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], DataError | ConfigError | StageFailed):
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_tracebacks_for_bad_input() -> None:
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logging.getLogger(name).addFilter(_NoTracebackForBadInput())


def answer_help(stage: str) -> None:
    """A stage takes no arguments (params.yaml says everything): ``--help`` describes it and exits, anything else is
    refused, and neither starts a run."""
    main = sys.modules["__main__"]
    parser = argparse.ArgumentParser(
        prog=f"python -m {main.__spec__.name if main.__spec__ else stage}",
        description=(main.__doc__ or "").strip(),
        epilog=f"The DVC stage '{stage}': `dvc repro {stage}` (or `dqrec run {stage}`) runs it when it is stale. It "
               "takes no arguments; its params are params.yaml's.")
    parser.parse_args()


def run_stage(flow: Callable[..., Any]) -> None:
    """Entry point of a DVC stage: run ``flow``; on bad input, print the full report once and exit 1."""
    answer_help(flow.name)
    quiet_tracebacks_for_bad_input()
    retain_freed_memory()
    with run_server():
        state: State = flow(return_state=True)
    if state.is_completed():
        # One line per stage, so that a pipeline's peak memory can be traced to the stage that reached it.
        print(f"{flow.name}: peak RSS {peak_rss_gb():.2f} GB", flush=True)
        return
    error = state.result(raise_on_failure=False)
    if isinstance(error, DataError):
        print(f"\n{flow.name} failed: {error.report()}", file=sys.stderr)
    elif isinstance(error, ConfigError):
        print(f"\n{flow.name} failed: {error}", file=sys.stderr)
    sys.exit(1)
