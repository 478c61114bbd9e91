"""The train stage's params reach the model: every CF knob in params.yaml is declared to DVC and read."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from dqrec.cf.model import CFConfig
from flows.train import fit_config, load_trained, train_report

ROOT = Path(__file__).resolve().parents[2]


def test_every_train_param_is_read_and_declared_to_dvc() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]
    declared = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]["params"])

    assert {f"train.{key}" for key in params} == declared
    config = fit_config(params, "full")
    switches = {"sid_features", "linkage", "loss"}  # from the variant name and an enum
    for field in fields(CFConfig):
        if field.name not in switches:
            value = params[field.name]
            assert getattr(config.model, field.name) == (tuple(value) if isinstance(value, list) else value), field.name
    assert config.model.sid_features and config.model.linkage
    assert config.refit == params["refit"] and config.epochs == params["epochs"]


def test_a_changed_param_reaches_the_config() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["train"] | {"dropout": 0.25, "refit": True,
                                                                          "audience_weight": 0.4}
    config = fit_config(params, "base")

    assert (config.model.dropout, config.model.audience_weight, config.refit) == (0.25, 0.4, True)
    assert not config.model.sid_features and not config.model.linkage


def test_an_untrained_variant_is_named_with_the_way_to_train_it(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # an empty workspace: nothing trained
    with pytest.raises(FileNotFoundError, match=r"full\.ckpt not found: train variant 'full' first.*dvc repro"):
        load_trained("full")

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "train.json").write_text('{"base": {"refit": false}}')
    assert train_report("base") == {"refit": False}
    with pytest.raises(FileNotFoundError, match=r"no variant 'full' \(it has: base\)"):
        train_report("full")
