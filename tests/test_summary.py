"""The pipeline's closing report: one screen that answers whether full beats the baseline, for whom, and whether
the semantic IDs are healthy, from the metrics files alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dqrec.evaluate.artifacts import read_per_user, write_per_user
from dqrec.layout import STAGES, Workspace
from dqrec.summary import StageRun, headline, read_stage_runs, render, write_stage_runs
from tests.conftest import REPO_ROOT


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """The committed ml-100k metrics, and per-user test metrics in which full is ahead for every user."""
    shutil.copytree(REPO_ROOT / "metrics", tmp_path / "metrics")
    workspace = Workspace(tmp_path)
    rng = np.random.default_rng(0)
    users = pd.DataFrame({"user_id": np.arange(200), "train_interactions": rng.integers(5, 300, 200)})
    base = users.assign(**{"recall@20": rng.uniform(0, 0.3, 200), "ndcg@20": rng.uniform(0, 0.3, 200)})
    full = base.assign(**{"recall@20": base["recall@20"] + 0.02, "ndcg@20": base["ndcg@20"] + 0.02})
    workspace.evaluate_dir.mkdir(parents=True)
    write_per_user(workspace.evaluate_dir, {"base": base, "full": full})
    return workspace


def test_the_report_fits_a_screen_and_answers_the_questions(workspace: Workspace) -> None:
    evaluate = workspace.read_metrics("evaluate")
    report = render(workspace, [StageRun(stage, None if stage == "ingest" else 2.0) for stage in STAGES])
    lines = report.splitlines()

    assert len(lines) <= 40 and max(map(len, lines)) <= 120
    relative = (evaluate["full"]["ndcg@20"] - evaluate["base"]["ndcg@20"]) / evaluate["base"]["ndcg@20"]
    all_users = next(line for line in lines if line.lstrip().startswith("all users"))
    assert f"{relative:+.1%}".replace("%", " %") in all_users and "(p 0.00)" in all_users
    sparse = evaluate["base"]["by_user_activity"][0]
    assert any(line.lstrip().startswith(f"sparsest fifth ({sparse['users']}") for line in lines)
    assert "→ full leads on test NDCG@20 in this run" in report
    sids = workspace.read_metrics("sids")
    assert f"{sids['user']['unique_ids']:,} distinct SIDs" in report
    assert "stages up to date: ingest" in report and "train 2 s" in report and "stages run (14 s)" in report
    assert "dvc metrics show" in report and "dvc plots show" in report


def test_without_per_user_metrics_the_report_gives_the_differences_without_a_p(workspace: Workspace) -> None:
    (workspace.evaluate_dir / "per_user.parquet").unlink()

    report = render(workspace)

    assert "no per-user metrics at hand" in report and "(p " not in report and "→" not in report
    assert "no timings" in report


def test_a_tie_is_called_a_tie(workspace: Workspace) -> None:
    rows = pd.read_parquet(workspace.evaluate_dir / "per_user.parquet")
    base = rows[rows["variant"] == "base"].drop(columns="variant")
    write_per_user(workspace.evaluate_dir, {"base": base, "full": base})

    assert "full and base are level on test NDCG@20 in this run (p 1.00" in render(workspace)


def test_a_workspace_that_never_evaluated_is_told_to_run_the_pipeline(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "ingest.json").write_text(json.dumps({"dataset": "x"}))

    with pytest.raises(FileNotFoundError, match="no metrics of split, evaluate yet; run the pipeline"):
        render(Workspace(tmp_path))


def test_stage_times_round_trip(tmp_path: Path) -> None:
    runs = [StageRun("ingest", None), StageRun("train", 12.5)]
    write_stage_runs(tmp_path / ".dqrec" / "last_run.json", runs)

    assert read_stage_runs(tmp_path / ".dqrec" / "last_run.json") == runs
    assert read_stage_runs(tmp_path / "nothing.json") is None


def test_the_headline_holds_a_handful_of_numbers_that_agree_with_the_report(workspace: Workspace) -> None:
    evaluate, train = workspace.read_metrics("evaluate"), workspace.read_metrics("train")

    numbers = headline(evaluate, train, read_per_user(workspace.evaluate_dir))

    assert set(numbers) == {"base", "full", "full_vs_base"}
    assert numbers["full"] == {"valid_ndcg@20": train["full"]["val_ndcg@20"],
                               "recall@20": evaluate["full"]["recall@20"], "ndcg@20": evaluate["full"]["ndcg@20"],
                               "sparsest_ndcg@20": evaluate["full"]["by_user_activity"][0]["ndcg@20"]}
    change = numbers["full_vs_base"]["ndcg@20_change"]
    assert change == pytest.approx(evaluate["full"]["ndcg@20"] / evaluate["base"]["ndcg@20"] - 1)
    assert f"{change:+.1%}".replace("%", " %") in render(workspace)
    assert numbers["full_vs_base"]["ndcg@20_p"] < 0.01  # full is ahead for every user in the fixture
    assert set(numbers["full_vs_base"]) == {"ndcg@20_change", "ndcg@20_p", "sparsest_ndcg@20_change",
                                            "sparsest_ndcg@20_p"}


def test_without_per_user_metrics_the_headline_has_no_p(workspace: Workspace) -> None:
    numbers = headline(workspace.read_metrics("evaluate"), {}, None)

    assert set(numbers["full_vs_base"]) == {"ndcg@20_change", "sparsest_ndcg@20_change"}
    assert numbers["base"]["valid_ndcg@20"] is None
