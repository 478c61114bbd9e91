"""The benchmark workspace: a copy of the tracked tree whose params.yaml states what it will run."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from benchmarks.pipeline import REPO_ROOT, workspace_copy

from dqrec.configtree import PER_DATASET
from dqrec.params import load_params


def test_a_workspace_states_its_datasets_committed_settings_and_a_set_overrides_them(tmp_path: Path) -> None:
    committed = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())[PER_DATASET]
    dataset, sections = next(iter(committed.items()))
    section, keys = next(iter(sections.items()))
    key, value = next(iter(keys.items()))
    env = dict(os.environ)

    workspace_copy(tmp_path / "as-committed", dataset, ["base"], [], env)
    workspace_copy(tmp_path / "overridden", dataset, None, ["train.dropout=0.5", f"{section}.{key}=7"],
                   dict(os.environ))

    written = yaml.safe_load((tmp_path / "as-committed" / "params.yaml").read_text())
    assert written[section][key] == value and written[PER_DATASET] == {}
    assert written["data"]["dataset"] == dataset and written["train"]["variants"] == ["base"]
    assert getattr(load_params(tmp_path / "as-committed" / "params.yaml"), section) is not None
    overridden = yaml.safe_load((tmp_path / "overridden" / "params.yaml").read_text())
    assert overridden[section][key] == 7 and overridden["train"]["dropout"] == 0.5
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path / "as-committed" / "src")
