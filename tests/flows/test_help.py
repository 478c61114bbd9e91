"""Every stage entry point answers --help without running anything (a stage started by mistake would overwrite
artifacts), and refuses arguments it does not take."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

STAGES = list(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"])
ENTRY_POINTS = sorted(path.stem for path in (REPO_ROOT / "flows").glob("*.py")
                      if 'if __name__ == "__main__":' in path.read_text())


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_answers_help_and_writes_nothing(stage: str, tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", f"flows.{stage}", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m flows.{stage}") and f"dvc repro {stage}" in result.stdout
    assert list(tmp_path.iterdir()) == [] or all(p.name.startswith(".") for p in tmp_path.iterdir())


def test_a_stage_refuses_an_argument_it_does_not_take(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "flows.split", "--seed", "3"], cwd=tmp_path,
                            env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(REPO_ROOT),
                                 "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=120)

    assert result.returncode == 2 and "unrecognized arguments: --seed 3" in result.stderr


def test_every_stage_is_an_entry_point() -> None:
    assert set(STAGES) < set(ENTRY_POINTS)


@pytest.mark.parametrize("module", [m for m in ENTRY_POINTS if m not in STAGES])
def test_every_other_entry_point_answers_help_and_writes_nothing(module: str, tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", f"flows.{module}", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")
    assert all(p.name.startswith(".") for p in tmp_path.iterdir())  # at most Prefect's home under HOME
