"""The config tree: params.yaml and the library's dataclasses agree key by key, and bad params are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dqrec.cf.fit import TrainConfig
from dqrec.configtree import PER_DATASET, SECTIONS, ConfigError, for_dataset, from_section, load_section, to_section
from dqrec.params import Params, load_params, params_to_mapping, section_classes
from dqrec.training import Strategy, TrainerConfig

ROOT = Path(__file__).resolve().parents[1]


def raw_params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def committed_sections() -> dict:
    """params.yaml without its per-dataset entries, which would replace some keys for the default dataset."""
    return {name: keys for name, keys in raw_params().items() if name != PER_DATASET}


def write_params(tmp_path: Path, params: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def test_every_dataclass_default_equals_the_value_in_params_yaml(tmp_path: Path) -> None:
    defaults = params_to_mapping(Params())
    committed = raw_params()

    assert [name for name in committed if name != PER_DATASET] == list(defaults) == list(SECTIONS) \
        == list(section_classes())
    for section, values in defaults.items():
        assert set(committed[section]) == set(values), f"{section}: the keys differ"
        for key, value in values.items():
            assert committed[section][key] == value, f"{section}.{key}: params.yaml {committed[section][key]!r}, " \
                                                     f"dataclass default {value!r}"
    assert load_params(write_params(tmp_path, committed_sections())) == Params()


@pytest.mark.parametrize(("section", "key", "suggestion"), [("train", "dropuot", "train.dropout"),
                                                            ("data", "kcores", "data.kcore"),
                                                            ("trainer", "device", "trainer.devices")])
def test_an_unknown_key_fails_with_its_name(tmp_path: Path, section: str, key: str, suggestion: str) -> None:
    params = raw_params()
    params[section][key] = 1
    path = write_params(tmp_path, params)

    with pytest.raises(ConfigError, match=rf"unknown key {section}\.{key} \(did you mean {suggestion}\?\)"):
        load_params(path)
    with pytest.raises(ConfigError, match=rf"{section}\.{key}"):  # a stage reading only its own section
        load_section(path, section, section_classes()[section])


def test_an_unknown_section_fails_with_its_name_in_every_stage(tmp_path: Path) -> None:
    params = raw_params()
    params["trian"] = params.pop("train")
    path = write_params(tmp_path, params)

    with pytest.raises(ConfigError, match=r"unknown section trian \(did you mean train\?\)"):
        load_section(path, "data", section_classes()["data"])


@pytest.mark.parametrize(("section", "key", "value", "expected"), [
    ("train", "epochs", "ten", r"train\.epochs: expected a whole number, got 'ten'"),
    ("train", "refit", 1, r"train\.refit: expected true or false"),
    ("trainer", "strategy", "fsdp", r"trainer\.strategy: expected one of \['auto', 'ddp'\], got 'fsdp'"),
    ("quantize", "user_codes", "many", r"quantize\.user_codes: .*'auto'"),
    ("train", "variants", ["base", "ful"], r"train: variants: expected some of"),
    ("trainer", "devices", 0, r"trainer: devices: expected at least 1"),
])
def test_a_value_of_the_wrong_kind_fails_with_its_key(tmp_path: Path, section: str, key: str, value: object,
                                                      expected: str) -> None:
    params = committed_sections()
    params[section][key] = value
    with pytest.raises(ConfigError, match=expected):
        load_params(write_params(tmp_path, params))


def test_a_left_out_key_takes_the_default_and_a_changed_one_reaches_the_config(tmp_path: Path) -> None:
    params = committed_sections()
    del params["train"]["epochs"]
    params["train"] |= {"dropout": 0.25, "refit": True, "feature_towers": ["item"]}
    params["trainer"] |= {"strategy": "ddp", "devices": 2}
    loaded = load_params(write_params(tmp_path, params))

    base, full = loaded.train.for_variant("base"), loaded.train.for_variant("full")
    assert base.epochs == TrainConfig().fit.epochs
    assert (base.model.dropout, base.refit, base.model.feature_towers) == (0.25, True, ("item",))
    assert not base.model.sid_features and not base.model.linkage
    assert full.model.sid_features and full.model.linkage
    assert loaded.trainer == TrainerConfig(strategy=Strategy.DDP, devices=2)


@pytest.mark.parametrize("section", SECTIONS)
def test_each_section_reads_back_what_it_writes(section: str) -> None:
    cls = section_classes()[section]
    config = load_params(ROOT / "params.yaml").__getattribute__(section)
    assert from_section(cls, to_section(config), section) == config


def test_every_param_a_stage_declares_to_dvc_exists_and_each_train_key_is_declared() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = raw_params()
    for name, stage in stages.items():
        declared_params = stage.get("params", [])
        # A dataset's committed settings may replace any key a stage reads, so every stage reading params declares
        # the whole section.
        assert not declared_params or PER_DATASET in declared_params, f"stage {name} does not declare {PER_DATASET}"
        for declared in declared_params:
            if declared == PER_DATASET:
                continue
            section, key = declared.split(".", 1)
            assert key in params[section], f"stage {name} declares {declared}, which params.yaml does not have"
    assert {f"train.{key}" for key in params["train"]} <= set(stages["train"]["params"])
    # Evaluation reads everything about a model from its checkpoint, nothing from the training params.
    assert not [p for p in stages["evaluate"]["params"] if p.startswith("train.")]


def test_a_datasets_entry_replaces_keys_only_where_data_dataset_names_it(tmp_path: Path) -> None:
    params = raw_params()
    params[PER_DATASET] = {"ml-1m": {"train": {"dropout": 0.1}, "pretrain": {"graph_dim": 32}}}
    path = write_params(tmp_path, params)
    assert load_params(path).train == Params().train  # ml-100k: untouched

    params["data"]["dataset"] = "ml-1m"
    path = write_params(tmp_path, params)
    loaded = load_params(path)
    assert loaded.train.fit.model.dropout == 0.1 and loaded.pretrain.graph_dim == 32
    assert loaded.train.fit.epochs == Params().train.fit.epochs  # keys the entry leaves alone keep the section's value
    assert load_section(path, "pretrain", section_classes()["pretrain"]).graph_dim == 32  # what a stage reads
    # Another dataset named explicitly (the results tools compare runs of several datasets with today's params).
    assert for_dataset(params, "ml-100k")["train"]["dropout"] == params["train"]["dropout"]


def test_a_stage_names_the_section_keys_its_datasets_entry_overrides(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    # `dvc exp run -S train.epochs=5` writes into the section; a dataset whose entry sets epochs keeps its own.
    params = committed_sections() | {PER_DATASET: {"ml-100k": {"train": {"epochs": 7, "dropout": 0.1}}}}
    params["train"] |= {"epochs": 5}
    path = write_params(tmp_path, params)

    with caplog.at_level("INFO", logger="dqrec.configtree"):
        assert load_section(path, "train", section_classes()["train"]).fit.epochs == 7
    (message,) = [r.getMessage() for r in caplog.records if r.name == "dqrec.configtree"]
    assert "datasets.ml-100k replaces train.epochs 5 with 7, train.dropout 0.3 with 0.1" in message
    assert "datasets.ml-100k.train.KEY" in message

    caplog.clear()
    params["data"]["dataset"] = "ml-1m"  # another dataset's entry changes nothing here, and says nothing
    with caplog.at_level("INFO", logger="dqrec.configtree"):
        assert load_section(write_params(tmp_path, params), "train", section_classes()["train"]).fit.epochs == 5
    assert not [r for r in caplog.records if r.name == "dqrec.configtree"]


@pytest.mark.parametrize(("entry", "expected"), [
    ({"ml-1m": {"trian": {"dropout": 0.1}}}, r"unknown section datasets\.ml-1m\.trian \(did you mean "
                                             r"datasets\.ml-1m\.train\?\)"),
    ({"ml-1m": {"train": {"dropuot": 0.1}}}, r"unknown key datasets\.ml-1m\.train\.dropuot"),
    ({"ml-1m": {"data": {"dataset": "ml-100k"}}}, r"datasets\.ml-1m\.data\.dataset: a dataset's own settings"),
    ({"ml-1m": {"train": 0.1}}, r"datasets\.ml-1m\.train: expected a mapping"),
    (["ml-1m"], r"datasets: expected a mapping of dataset names"),
])
def test_a_bad_datasets_entry_is_refused_by_name_whichever_dataset_runs(tmp_path: Path, entry: object,
                                                                        expected: str) -> None:
    params = raw_params() | {PER_DATASET: entry}
    path = write_params(tmp_path, params)  # data.dataset is ml-100k: the entry is for another dataset

    with pytest.raises(ConfigError, match=expected):
        load_params(path)
    with pytest.raises(ConfigError, match=expected):  # a stage reading only its own section
        load_section(path, "train", section_classes()["train"])
