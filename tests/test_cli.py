"""The dqrec command: every subcommand answers --help without running anything, and refuses to run where there
is no workspace or no such stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dqrec.cli import find_workspace, main
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["report", "--help"], ["recommend", "--help"],
                                  ["compare", "--help"]])
def test_help_exits_0_and_runs_nothing(argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nowhere to run: a subcommand that ran would fail
    with pytest.raises(SystemExit) as exit_:
        main(argv)

    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: dqrec")


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "dqrec"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0 and "run" in result.stdout and "recommend" in result.stdout


def test_outside_a_workspace_the_command_says_where_to_run_it(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="is not inside a DQRec workspace"):
        main(["report"])


def test_an_unknown_stage_is_refused_with_the_list_of_stages() -> None:
    with pytest.raises(SystemExit, match="no stage trian; the stages are ingest, split"):
        main(["run", "trian"])


def test_the_workspace_is_found_from_a_subfolder() -> None:
    assert find_workspace(REPO_ROOT / "src" / "dqrec") == REPO_ROOT
