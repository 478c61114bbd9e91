"""One Prefect server per run: the stage processes of a run share the first one's server, which stops when idle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.run_server import ServerFiles
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

STAGE = "from flows.run_server import run_server\nwith run_server() as url:\n    print(url)\n"


def stage_process(root: Path, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", STAGE], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PREFECT_HOME": str(tmp_path / "prefect-home"),
                   "DQREC_PREFECT_IDLE_SECONDS": "4"}
    environment.pop("PREFECT_API_URL", None)
    return environment


def test_stage_processes_share_one_server_that_stops_when_idle(tmp_path: Path, env: dict[str, str]) -> None:
    files = ServerFiles(tmp_path)

    first = stage_process(tmp_path, env)
    second = stage_process(tmp_path, env)

    assert first == second and first.startswith("http://127.0.0.1:")
    assert json.loads(files.record.read_text())["api_url"] == first
    deadline = time.monotonic() + 60
    while files.record.exists() and time.monotonic() < deadline:
        time.sleep(1)
    log = files.log.read_text()
    assert not files.record.exists(), log
    assert log.count("started a Prefect server for this run") == 1
    while "stopped the Prefect server" not in files.log.read_text() and time.monotonic() < deadline:
        time.sleep(1)
    assert "stopped the Prefect server" in files.log.read_text()


def test_a_configured_server_is_used_as_it_is(tmp_path: Path, env: dict[str, str]) -> None:
    configured = {**env, "PREFECT_API_URL": "http://127.0.0.1:9/api"}

    assert stage_process(tmp_path, configured) == "http://127.0.0.1:9/api"
    assert not ServerFiles(tmp_path).folder.exists()
