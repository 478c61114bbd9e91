"""The seed harness's table: means over seeds, and paired tests over the right users."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from benchmarks.seeds import (
    SeedRuns,
    add_run,
    between,
    between_table,
    check_same_base,
    check_same_params,
    merge_base,
    run_seed,
    seeds_to_run,
    summary,
    table,
)

from dqrec.evaluate.artifacts import PER_USER


def save_run(folder: Path, seed: int, base: np.ndarray, full: np.ndarray, activity: np.ndarray) -> None:
    run = folder / f"seed-{seed}"
    run.mkdir(parents=True)
    (run / "train.json").write_text(json.dumps({"base": {"val_ndcg@20": 0.1 + seed % 10 / 1000},
                                                "full": {"val_ndcg@20": 0.2}}))
    (run / "params.yaml").write_text(yaml.safe_dump({"data": {"dataset": "toy"}}))
    users = np.arange(len(base))
    frames = [pd.DataFrame({"variant": variant, "user_id": users, "train_interactions": activity,
                            "recall@20": values, "ndcg@20": values / 2})
              for variant, values in (("base", base), ("full", full))]
    pd.concat(frames).sample(frac=1, random_state=seed).to_parquet(run / "per_user.parquet", index=False)  # any order


def test_the_summary_averages_seeds_and_finds_a_gain_only_the_sparse_users_have(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    activity = np.arange(1, 201)  # user u has u train interactions: users 0..39 are the sparsest fifth
    for seed in (2025, 2026, 2027):
        base = rng.random(200) * 0.4
        full = base + np.where(activity <= 40, 0.1, 0.0)  # better for the sparsest fifth, the same elsewhere
        save_run(tmp_path, seed, base, full, activity)

    result = summary(SeedRuns(tmp_path))

    assert result["dataset"] == "toy" and result["seeds"] == [2025, 2026, 2027]
    assert result["variants"]["base"]["val_ndcg@20"][0] == pytest.approx(0.106)
    sparse = result["against_base"]["full"]["sparsest_fifth"]["recall@20"]
    overall = result["against_base"]["full"]["all"]["recall@20"]
    assert sparse["users"] == 40 and sparse["difference"] == pytest.approx(0.1) and sparse["p_value"] < 0.001
    assert overall["users"] == 200 and overall["difference"] == pytest.approx(0.02)
    assert overall["ci_low"] > 0
    over_seeds = result["against_base"]["full"]["seeds"]["recall@20"]
    assert over_seeds["wins"] == 3 and over_seeds["per_seed"] == pytest.approx([0.02] * 3)
    assert over_seeds["p_value"] == pytest.approx(2 / 8, abs=0.03)  # 3 seeds: the smallest p there is
    fifths = result["by_activity_fifth"]["full"]  # NDCG@20, fifth by fifth
    assert [f["max_train_interactions"] for f in fifths] == [40, 80, 120, 160, 200]
    assert fifths[0]["difference"] == pytest.approx(0.05) and fifths[0]["p_value"] < 0.001
    assert [f["difference"] for f in fifths[1:]] == pytest.approx([0.0] * 4)
    shown = table(result)
    assert "toy: 3 seeds (2025-2027)" in shown and "sparsest fifth (40 users)" in shown
    assert "≤ 40 +" in shown and "≤ 200 +0.0% p=1.000" in shown  # the fifths' line: the gain is in the first


def test_two_settings_of_one_variant_are_compared_on_their_common_seeds(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    activity = np.arange(1, 101)
    for seed in (2025, 2026, 2027):
        base = rng.random(100) * 0.4
        save_run(tmp_path / "reference", seed, base, base + 0.01, activity)
        if seed < 2027:  # the candidate ran two seeds only
            save_run(tmp_path / "candidate", seed, base, base + 0.05, activity)

    result = between(SeedRuns(tmp_path / "reference"), SeedRuns(tmp_path / "candidate"), "full")

    assert result["seeds"] == [2025, 2026]
    assert result["validation"]["difference"] == pytest.approx(0.0)  # both saved 0.2: no reason to choose
    assert result["recall@20"]["users"]["difference"] == pytest.approx(0.04)
    assert result["recall@20"]["users"]["p_value"] < 0.001
    assert "validation NDCG@20 (for choosing)" in between_table(result)
    with pytest.raises(SystemExit, match="variant 'linkage'"):
        between(SeedRuns(tmp_path / "reference"), SeedRuns(tmp_path / "candidate"), "linkage")


def test_no_saved_runs_says_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no seed-.*runs"):
        SeedRuns(tmp_path)


def test_resuming_accepts_saved_seeds_only_under_the_same_params(tmp_path: Path) -> None:
    params = {"data": {"dataset": "toy"}, "pretrain": {"seed": 2025, "dim": 64}, "train": {"seed": 2025, "lr": 0.003}}
    saved, workspace = tmp_path / "saved.yaml", tmp_path / "workspace.yaml"
    saved.write_text(yaml.safe_dump(params))
    other_seed = {**params, "pretrain": {"seed": 2027, "dim": 64}, "train": {"seed": 2027, "lr": 0.003}}
    workspace.write_text(yaml.safe_dump(other_seed))

    check_same_params(saved, workspace)  # seeds aside, the same run: kept

    workspace.write_text(yaml.safe_dump({**other_seed, "train": {"seed": 2027, "lr": 0.01}}))
    with pytest.raises(SystemExit, match=r"other params \(train.lr\)"):
        check_same_params(saved, workspace)

    # A key added since the seed was saved, at the value the code then used without it: the same run.
    workspace.write_text(yaml.safe_dump({**other_seed, "train": {"seed": 2027, "lr": 0.003, "sid_shrinkage": 0}}))
    check_same_params(saved, workspace)
    workspace.write_text(yaml.safe_dump({**other_seed, "train": {"seed": 2027, "lr": 0.003, "sid_shrinkage": 20}}))
    with pytest.raises(SystemExit, match=r"other params \(train.sid_shrinkage\)"):
        check_same_params(saved, workspace)


def test_a_sitting_trains_only_the_missing_seeds_and_at_most_max_new_of_them(tmp_path: Path) -> None:
    for seed in (2025, 2027):
        (tmp_path / f"seed-{seed}").mkdir()
        (tmp_path / f"seed-{seed}" / PER_USER).write_bytes(b"")
    (tmp_path / "seed-2026").mkdir()  # a seed stopped before its per-user metrics were saved: not saved
    seeds = range(2025, 2030)
    assert seeds_to_run(tmp_path, seeds, None) == [2026, 2028, 2029]
    assert seeds_to_run(tmp_path, seeds, 1) == [2026]
    assert seeds_to_run(tmp_path, seeds, 10) == [2026, 2028, 2029]


def test_a_reused_base_joins_the_candidate_run_and_is_paired_with_it(tmp_path: Path) -> None:
    activity = np.arange(1, 51)
    base = np.linspace(0.0, 0.4, 50)
    save_run(tmp_path / "reference", 2025, base, base, activity)
    candidate = tmp_path / "candidate" / "seed-2025"
    save_run(tmp_path / "candidate", 2025, base + 9, base + 0.03, activity)  # its own base must not survive
    for name in ("train.json", "evaluate.json"):  # a candidate trained full only
        (candidate / name).write_text(json.dumps({"full": {"val_ndcg@20": 0.3}}))
    (tmp_path / "reference" / "seed-2025" / "evaluate.json").write_text(json.dumps({"base": {"ndcg@20": 0.1}}))
    frame = pd.read_parquet(candidate / "per_user.parquet")
    frame[frame["variant"] == "full"].to_parquet(candidate / "per_user.parquet", index=False)

    merge_base(tmp_path / "reference" / "seed-2025", candidate)

    assert list(json.loads((candidate / "train.json").read_text())) == ["base", "full"]
    assert json.loads((candidate / "evaluate.json").read_text())["base"] == {"ndcg@20": 0.1}
    runs = SeedRuns(tmp_path / "candidate")
    np.testing.assert_allclose(runs.values("base", "recall@20", np.arange(50))[0], base)
    assert runs.values("full", "recall@20", np.arange(50))[0] - base == pytest.approx(np.full(50, 0.03))


def test_a_base_is_reused_only_under_the_same_base_params(tmp_path: Path) -> None:
    params = {"data": {"dataset": "toy"}, "pretrain": {"seed": 2025, "history_encoder": "mean"},
              "train": {"seed": 2025, "lr": 0.003, "variants": ["base", "full"]}}
    saved, workspace = tmp_path / "saved.yaml", tmp_path / "workspace.yaml"
    saved.write_text(yaml.safe_dump(params))
    # Another pre-training and other variants shape no base run: reused.
    workspace.write_text(yaml.safe_dump({**params, "pretrain": {"seed": 2025, "history_encoder": "gru"},
                                         "train": {"seed": 2025, "lr": 0.003, "variants": ["full"]}}))
    check_same_base(saved, workspace)
    # Nor do the keys only the SID inputs read.
    workspace.write_text(yaml.safe_dump({**params, "train": {"seed": 2025, "lr": 0.003, "sid_gate": True}}))
    check_same_base(saved, workspace)

    workspace.write_text(yaml.safe_dump({**params, "train": {"seed": 2026, "lr": 0.003, "variants": ["full"]}}))
    with pytest.raises(SystemExit, match=r"other params \(train.seed\)"):
        check_same_base(saved, workspace)


def finished_workspace(root: Path, params: dict, per_user_from: Path) -> Path:
    """A DVC project with nothing stale and a pipeline run's outputs where the workspace layout puts them."""
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "metrics").mkdir()
    (root / "metrics" / "train.json").write_text((per_user_from / "train.json").read_text())
    (root / "metrics" / "evaluate.json").write_text(json.dumps({"base": {"ndcg@20": 0.1}, "full": {"ndcg@20": 0.2}}))
    (root / "data" / "evaluate").mkdir(parents=True)
    (root / "data" / "evaluate" / "per_user.parquet").write_bytes((per_user_from / "per_user.parquet").read_bytes())
    return root


def test_a_run_finished_elsewhere_joins_a_comparison_as_its_seed_under_the_same_params(tmp_path: Path) -> None:
    activity = np.arange(1, 51)
    base = np.linspace(0.0, 0.4, 50)
    comparison = tmp_path / "comparison"
    params = {"data": {"dataset": "toy"}, "pretrain": {"seed": 2025}, "train": {"seed": 2025, "lr": 0.003}}
    for seed in (2025, 2026):
        save_run(comparison, seed, base, base + 0.01, activity)
        (comparison / f"seed-{seed}" / "params.yaml").write_text(yaml.safe_dump(
            {**params, "pretrain": {"seed": seed}, "train": {"seed": seed, "lr": 0.003}}))
    save_run(tmp_path / "elsewhere", 2028, base, base + 0.02, activity)
    at_2028 = {**params, "pretrain": {"seed": 2028}, "train": {"seed": 2028, "lr": 0.003}}
    workspace = finished_workspace(tmp_path / "workspace", at_2028, tmp_path / "elsewhere" / "seed-2028")

    assert add_run(workspace, comparison) == 2028
    runs = SeedRuns(comparison)
    assert runs.seeds == [2025, 2026, 2028]
    assert runs.values("full", "recall@20", np.arange(50))[2] - base == pytest.approx(np.full(50, 0.02))
    with pytest.raises(SystemExit, match="already has seed 2028"):
        add_run(workspace, comparison)

    (comparison / "seed-2028").rename(tmp_path / "removed")
    (workspace / "params.yaml").write_text(yaml.safe_dump({**at_2028, "train": {"seed": 2028, "lr": 0.01}}))
    with pytest.raises(SystemExit, match=r"other params \(train.lr\)"):
        add_run(workspace, comparison)
    (workspace / "params.yaml").write_text(yaml.safe_dump({**at_2028, "train": {"seed": 2029, "lr": 0.003}}))
    with pytest.raises(SystemExit, match="move both together"):
        add_run(workspace, comparison)
    # A pipeline with a stage whose outputs are missing is not finished.
    (workspace / "params.yaml").write_text(yaml.safe_dump(at_2028))
    (workspace / "dvc.yaml").write_text("stages:\n  late:\n    cmd: echo\n    outs: [never.txt]\n")
    with pytest.raises(SystemExit, match="not a finished, up-to-date pipeline run"):
        add_run(workspace, comparison)


def test_a_failed_seed_keeps_its_log_where_the_message_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, temporary = tmp_path / "workspace", tmp_path / "tmp"  # a workspace with no flows: the pipeline fails
    root.mkdir(), temporary.mkdir()
    (root / "params.yaml").write_text(yaml.safe_dump({"pretrain": {"seed": 1}, "train": {"seed": 1}}))
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    kept = temporary / "dqrec-seeds-some-name-seed-2025.log"

    with pytest.raises(SystemExit, match=f"seed 2025: the pipeline failed; its log: {kept}"):
        run_seed(root, 2025, dict(os.environ), tmp_path / "results" / "some-name" / "seed-2025")
    assert "No module named 'flows'" in kept.read_text()
