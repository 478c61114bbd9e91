"""One end-to-end run of the pipeline through Prefect and DVC on ml-100k, in a throwaway git workspace."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO_ROOT, SHARED_DATASETS
from tools.stage_deps import derived_deps

pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("workspace")
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (REPO_ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, root / name)
    bin_dir = str(Path(sys.executable).parent)
    ml100k = SHARED_DATASETS / "ml-100k"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PREFECT_HOME": str(tmp_path_factory.mktemp("prefect-home")),
        # With no shared copy, the pipeline acquires ml-100k itself, as on a fresh machine.
        "DQREC_DATA_HOME": str(ml100k.parent if ml100k.is_dir() else root / "data" / "raw"),
    }
    env.pop("PREFECT_API_URL", None)
    env["DQREC_PREFECT_IDLE_SECONDS"] = "20"  # a stage's run server goes soon after the test that started it
    # `dvc exp run` commits too: give git an identity that does not depend on the machine's configuration.
    env |= {"GIT_AUTHOR_NAME": "dqrec-tests", "GIT_AUTHOR_EMAIL": "tests@dqrec.invalid",
            "GIT_COMMITTER_NAME": "dqrec-tests", "GIT_COMMITTER_EMAIL": "tests@dqrec.invalid"}
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["pretrain"]["epochs"] = 2  # the chain is under test here, not the models
    params["train"]["epochs"] = 2
    # ml-100k's own entry would replace these (and the `-S train.epochs=1` below): its training budget goes too.
    params["datasets"]["ml-100k"].pop("train")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "snapshot"]):
        run(command, root, env)
    return root, env


def dqrec(*args: str) -> list[str]:
    """The console script `make setup` installs beside this interpreter."""
    return [str(Path(sys.executable).parent / "dqrec"), *args]


def test_pipeline_flow_runs_every_stage_then_nothing(workspace: tuple[Path, dict[str, str]]) -> None:
    root, env = workspace
    first = run(dqrec("run"), root, env)

    stats = json.loads((root / "metrics" / "ingest.json").read_text())
    split = json.loads((root / "metrics" / "split.json").read_text())
    assert (stats["users"], stats["items"], stats["interactions"]) == (943, 1682, 100_000)
    assert [split[s]["interactions"] for s in ("train", "valid", "test")] == [80_024, 9_988, 9_988]
    # MovieLens rates in bursts: many held-out rows share a second with a train row, and item id decided their side.
    tie_broken = [split[s]["tie_broken_share"] for s in ("valid", "test", "train")]
    assert tie_broken == sorted(tie_broken, reverse=True) and tie_broken[-1] > 0
    sids = pd.read_parquet(root / "data" / "sids" / "item.parquet")
    assert list(sids.columns) == ["item_id", "c_1", "c_2", "c_3", "c_4"] and len(sids) == 1682
    diagnostics = json.loads((root / "metrics" / "sids.json").read_text())
    assert diagnostics["user"]["utilisation_min"] > 0.9
    assert (root / "plots" / "sids_code_usage.png").stat().st_size > 0
    evaluation = json.loads((root / "metrics" / "evaluate.json").read_text())
    assert set(evaluation) == {"base", "full", "full_vs_base"}
    assert evaluation["base"]["users"] == 943 and 0 < evaluation["base"]["recall@20"] < 1
    assert "Flow run" in first.stdout + first.stderr and "ingest" in first.stdout
    report = first.stdout[first.stdout.rindex("DQRec on ml-100k"):].splitlines()
    assert len(report) <= 40  # the closing report fits on one screen
    assert report[0].startswith("DQRec on ml-100k: 943 users, 1,682 items")
    for heading in ("full vs base", "  all users (943)", "  sparsest fifth", "  → ", "Semantic IDs", "  user ",
                    "  item ", "stages run ("):
        assert any(line.startswith(heading) for line in report), heading
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    assert set(re.findall(r"^(\w+): peak RSS \d+\.\d+ GB$", first.stdout, re.M)) == set(stages)

    again = run([sys.executable, "-m", "dvc", "repro"], root, env)
    assert "Data and pipelines are up to date" in again.stdout
    shown = run(dqrec("report"), root, env).stdout.splitlines()
    assert shown == report  # the same report, the stage times of the last pipeline run included


def server_starts(root: Path) -> int:
    log = root / ".dqrec" / "prefect" / "server.log"
    return log.read_text().count("started a Prefect server for this run") if log.exists() else 0


def test_a_rerun_leaves_git_clean_starts_one_server_and_a_second_clone_pulls_everything(
        workspace: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, env = workspace
    run([sys.executable, "-m", "dvc", "remote", "add", "-d", "team", str(tmp_path / "store")], root, env)
    run(["git", "add", "-A"], root, env)
    run(["git", "commit", "-qm", "a pipeline run"], root, env)
    starts = server_starts(root)

    rerun = run([sys.executable, "-m", "dvc", "repro", "--force"], root, env)

    # The same params on the same machine: the same bytes, and no timing in a tracked file.
    assert run(["git", "status", "--porcelain"], root, env).stdout == ""
    # eight stage processes, one Prefect server (or none new: the pipeline run's may still be up)
    assert server_starts(root) <= starts + 1 and "Starting temporary server" not in rerun.stdout + rerun.stderr
    run([sys.executable, "-m", "dvc", "push"], root, env)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(root), str(clone)], tmp_path, env)
    run([sys.executable, "-m", "dvc", "pull"], clone, env)
    assert "Data and pipelines are up to date" in run([sys.executable, "-m", "dvc", "status"], clone, env).stdout
    assert digest(clone / "data") == {k: v for k, v in digest(root / "data").items() if not k.startswith("raw/")}
    assert digest(clone / "metrics") == digest(root / "metrics")
    again = run([sys.executable, "-m", "dvc", "repro"], clone, env)
    assert "Data and pipelines are up to date" in again.stdout and "Running stage" not in again.stdout


def test_recommend_command_after_the_pipeline(workspace: tuple[Path, dict[str, str]]) -> None:
    root, env = workspace
    shown = run(dqrec("recommend", "1", "42", "--k", "3"), root, env)

    assert "variant 'full'" in shown.stdout and "user 1 (272 known items)" in shown.stdout
    assert shown.stdout.count("\n    1 ") == 2  # one ranked list per user
    unknown = run([sys.executable, "-m", "flows.recommend", "1", "99999"], root, env, check=False)
    assert unknown.returncode != 0 and "unknown user id '99999'" in unknown.stderr


def set_param(root: Path, section: str, key: str, value: object) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params[section][key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_a_quantize_param_reruns_quantize_and_sids_and_train_only_if_a_sid_changed(
        workspace: tuple[Path, dict[str, str]]) -> None:
    root, env = workspace
    sids_before = digest(root / "data" / "sids")
    set_param(root, "quantize", "beta", 0.5)

    result = run([sys.executable, "-m", "dvc", "repro"], root, env)

    for upstream in ("ingest", "split", "pretrain", "svd"):
        assert f"Stage '{upstream}' didn't change, skipping" in result.stdout
    assert "Running stage 'quantize'" in result.stdout and "Running stage 'sids'" in result.stdout
    # train reads the SID tables and their code sizes, not the codebooks
    sids_changed = digest(root / "data" / "sids") != sids_before
    assert ("Running stage 'train'" in result.stdout) == sids_changed
    run(["git", "checkout", "-q", "params.yaml"], root, env)
    run([sys.executable, "-m", "dvc", "repro"], root, env)


@pytest.mark.parametrize("module", ["src/dqrec/quantize/plots.py", "src/dqrec/cf/linkage.py",
                                    "src/dqrec/evaluate/report.py"])
def test_editing_a_module_makes_stale_exactly_the_stages_that_import_it(workspace: tuple[Path, dict[str, str]],
                                                                        module: str) -> None:
    root, env = workspace
    run([sys.executable, "-m", "dvc", "repro"], root, env)
    importing = {stage for stage, deps in derived_deps(root / "dvc.yaml").items() if module in deps}
    source = (root / module).read_text()
    try:
        (root / module).write_text(source + "\n# an edit\n")
        status = json.loads(run([sys.executable, "-m", "dvc", "status", "--json"], root, env).stdout)
    finally:
        (root / module).write_text(source)
    assert importing and {name.split(":")[-1] for name in status} == importing


def test_a_split_param_reruns_the_split_and_what_follows_not_ingest(workspace: tuple[Path, dict[str, str]]
                                                                    ) -> None:
    root, env = workspace
    ingest_before = digest(root / "data" / "ingest")
    set_param(root, "split", "test_ratio", 0.2)

    result = run([sys.executable, "-m", "dvc", "repro"], root, env)

    assert "Stage 'ingest' didn't change, skipping" in result.stdout
    assert "Running stage 'split'" in result.stdout
    assert digest(root / "data" / "ingest") == ingest_before
    split = json.loads((root / "metrics" / "split.json").read_text())
    assert split["test"]["interactions"] > 9_988


def test_an_experiment_is_listed_by_compare_with_its_param_and_headline(workspace: tuple[Path, dict[str, str]]
                                                                        ) -> None:
    root, env = workspace
    run(["git", "checkout", "-q", "params.yaml"], root, env)
    branch = run(["git", "rev-parse", "--abbrev-ref", "HEAD"], root, env).stdout.strip()
    committed = json.loads(run(["git", "show", "HEAD:metrics/headline.json"], root, env).stdout)
    run([sys.executable, "-m", "dvc", "exp", "run", "-S", "train.epochs=1", "--name", "one-epoch"], root, env)

    table = run(dqrec("compare", branch, "one-epoch"), root, env).stdout
    lines = table.splitlines()

    assert lines[0].split() == [branch, "one-epoch"] and max(map(len, lines)) <= 120
    assert next(line for line in lines if "train.epochs" in line).split() == ["train.epochs", "2", "1"]
    assert len([line for line in lines if "train." in line or "split." in line]) == 1  # only what differs
    experiment = json.loads((root / "metrics" / "headline.json").read_text())  # the workspace holds its result
    ndcg = next(line for line in lines if line.strip().startswith("full.ndcg@20")).split()
    assert ndcg[1:] == [f"{committed['full']['ndcg@20']:.4f}", f"{experiment['full']['ndcg@20']:.4f}"]
    assert "full_vs_base.ndcg@20_p" in table
    # The README's way back to the last commit after an experiment (or one stopped half-way) in the workspace.
    run(["git", "checkout", "--", "params.yaml", "dvc.lock", "metrics", "plots"], root, env)
    run([sys.executable, "-m", "dvc", "checkout"], root, env)
    assert run(["git", "status", "--porcelain"], root, env).stdout == ""
    assert "Data and pipelines are up to date" in run([sys.executable, "-m", "dvc", "status"], root, env).stdout
    run([sys.executable, "-m", "dvc", "exp", "remove", "one-epoch"], root, env)


def test_bad_input_fails_and_leaves_previous_artifacts(workspace: tuple[Path, dict[str, str]],
                                                       tmp_path: Path) -> None:
    root, env = workspace
    run([sys.executable, "-m", "dvc", "repro"], root, env)
    before = digest(root / "data") | digest(root / "metrics")
    source = Path(env["DQREC_DATA_HOME"]) / "ml-100k"
    broken = tmp_path / "home" / "ml-100k"
    shutil.copytree(source, broken)
    inter = broken / "ml-100k.inter"
    lines = inter.read_text().splitlines(keepends=True)
    lines[41] = "-5" + lines[41][lines[41].index("\t"):]
    inter.write_text("".join(lines))

    failed = run([sys.executable, "-m", "dvc", "repro", "--force", "ingest"], root,
                 {**env, "DQREC_DATA_HOME": str(tmp_path / "home")}, check=False)

    assert failed.returncode != 0
    assert "ml-100k.inter, line 42, column 'user_id': found '-5'" in failed.stderr + failed.stdout
    assert "Traceback" not in failed.stderr + failed.stdout
    assert digest(root / "data") | digest(root / "metrics") == before


def readme_block(heading: str) -> str:
    """The first bash block under a README heading: the commands exactly as users read them."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index(f"## {heading}\n"):]
    return section[section.index("```bash\n") + len("```bash\n"):section.index("```\n", section.index("```bash"))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_readme_deployment_runs_the_pipeline_to_completed_with_its_report(
        workspace: tuple[Path, dict[str, str]]) -> None:
    root, env = workspace
    block = readme_block("Deploying with Prefect")
    port = free_port()
    assert "PORT=4210" in block
    shell = subprocess.Popen(["bash", "-euo", "pipefail", "-c", block.replace("PORT=4210", f"PORT={port}")],
                             cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)  # the server and the worker it leaves running are its group
    try:
        output, _ = shell.communicate(timeout=600)
        assert shell.returncode == 0, output
        assert "Completed" in output.splitlines()[-1] or "Completed" in output
        api = {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_HOME": str(root / ".prefect")}
        artifact = run(["prefect", "artifact", "inspect", "pipeline-report"], root, api).stdout
        # "stages run", with or without stages up to date: the run is the test's first or follows other tests'.
        assert "DQRec on ml-100k" in artifact and "stages run" in artifact
    finally:
        # A worker whose server went down with it waits on that server instead of exiting: SIGKILL what SIGTERM
        # left, so that no worker outlives the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                os.killpg(shell.pid, 0)  # ProcessLookupError once the whole group has exited
                time.sleep(0.1)
            os.killpg(shell.pid, signal.SIGKILL)
