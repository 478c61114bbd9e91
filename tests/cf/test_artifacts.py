"""Self-describing CF checkpoints: the training config and input fingerprints travel with the weights."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from dqrec.cf.artifacts import (
    WorkspaceMismatch,
    check_matches,
    checkpoint_path,
    input_fingerprints,
    load_trained,
    provenance,
    train_report,
    trained_fit_config,
    trained_variants,
    write_trained_variants,
)
from dqrec.cf.fit import FitConfig, TrainConfig, fit_cf
from dqrec.cf.model import CFConfig, TwoTowerCF
from dqrec.configtree import to_section
from dqrec.data.artifacts import INTERACTIONS, ITEMS, USERS
from dqrec.layout import Workspace
from dqrec.quantize.sid_tables import Sids, write_sids

CONFIG = TrainConfig(variants=("base", "full"), fit=FitConfig(
    model=CFConfig(dim=16, n_negatives=32), epochs=2, patience=2, batch_size=256, progress=False))


def write_inputs(workspace: Workspace, toy: tuple, sids: Sids | None = None, items: pd.DataFrame | None = None
                 ) -> None:
    """The artifacts of ingest, split and sids that training and serving read, from the toy dataset."""
    train, valid, users, toy_items, toy_sids = toy
    sids = sids or toy_sids
    for folder in (workspace.ingest_dir, workspace.split_dir):
        folder.mkdir(parents=True, exist_ok=True)
    users.to_parquet(workspace.ingest_dir / USERS, index=False)
    (toy_items if items is None else items).to_parquet(workspace.ingest_dir / ITEMS, index=False)
    pd.concat([train, valid]).to_parquet(workspace.ingest_dir / INTERACTIONS, index=False)
    for name, frame in (("train", train), ("valid", valid), ("test", valid)):
        frame.to_parquet(workspace.split_dir / f"{name}.parquet", index=False)
    write_sids(workspace.sids_dir, {"user": sids.users, "item": sids.items},
               {"user": sids.user_codes, "item": sids.item_codes})


def train_variant(workspace: Workspace, toy: tuple, variant: str) -> FitConfig:
    train, valid, users, items, sids = toy
    config = CONFIG.for_variant(variant)
    workspace.train_dir.mkdir(parents=True, exist_ok=True)
    fit_cf(train, valid, users, items, sids if variant != "base" else None, config,
           checkpoint=checkpoint_path(workspace, variant), provenance=provenance(workspace, variant, config))
    return config


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    workspace = Workspace(tmp_path_factory.mktemp("workspace"))
    write_inputs(workspace, toy)
    for variant in CONFIG.variants:
        train_variant(workspace, toy, variant)
    write_trained_variants(workspace, list(CONFIG.variants))
    return workspace


@pytest.mark.parametrize("variant", ["base", "full"])
def test_a_checkpoint_carries_its_training_config_and_input_fingerprints(trained: Workspace, variant: str) -> None:
    model = load_trained(trained, variant)

    config = trained_fit_config(model)
    assert to_section(config) == to_section(CONFIG.for_variant(variant))
    assert (config.model.sid_features, config.model.linkage) == ((False, False) if variant == "base" else (True, True))
    assert model.provenance["fingerprints"] == input_fingerprints(trained, uses_sids=variant != "base")
    assert ("sids" in model.provenance["fingerprints"]) == (variant != "base")
    check_matches(trained, model, ("id_maps", "sids", "split"))  # nothing changed: no complaint


def test_fingerprints_change_with_the_content_only(toy, tmp_path: Path) -> None:
    first, second = Workspace(tmp_path / "a"), Workspace(tmp_path / "b")
    write_inputs(first, toy)
    write_inputs(second, toy)
    assert input_fingerprints(first, True) == input_fingerprints(second, True)

    sids = toy[4]
    moved = sids.items.copy()
    moved[0, 1] = (moved[0, 1] + 1) % sids.item_codes
    write_inputs(second, toy, sids=sids._replace(items=moved))
    changed = {k for k, v in input_fingerprints(second, True).items() if v != input_fingerprints(first, True)[k]}
    assert changed == {"sids"}


def test_train_lists_its_variants_and_drops_checkpoints_it_no_longer_trains(trained: Workspace, toy,
                                                                            tmp_path: Path) -> None:
    assert trained_variants(trained) == ["base", "full"]
    workspace = Workspace(tmp_path)
    write_inputs(workspace, toy)
    train_variant(workspace, toy, "base")
    checkpoint_path(workspace, "full").write_bytes(b"stale")
    write_trained_variants(workspace, ["base"])
    assert trained_variants(workspace) == ["base"] and not checkpoint_path(workspace, "full").exists()


def test_missing_artifacts_name_the_file_and_the_way_to_make_it(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)  # nothing trained
    with pytest.raises(FileNotFoundError, match=r"full\.ckpt not found: train variant 'full' first.*dvc repro"):
        load_trained(workspace, "full")
    with pytest.raises(FileNotFoundError, match=r"variants\.json not found: run the train stage first"):
        trained_variants(workspace)
    workspace.metrics_dir.mkdir()
    workspace.metrics_file("train").write_text('{"base": {"refit": false}}')
    assert train_report(workspace, "base") == {"refit": False}
    with pytest.raises(FileNotFoundError, match=r"no variant 'full' \(it has: base\)"):
        train_report(workspace, "full")


def test_a_checkpoint_without_provenance_is_refused_with_the_way_out(trained: Workspace, tmp_path: Path) -> None:
    model = load_trained(trained, "base")
    model.provenance = {}
    with pytest.raises(WorkspaceMismatch, match=r"records no fingerprints.*dvc repro train"):
        check_matches(trained, model)
    with pytest.raises(WorkspaceMismatch, match=r"records no training config.*dvc repro train"):
        trained_fit_config(model)
    assert isinstance(replace(CONFIG.fit), FitConfig) and isinstance(model, TwoTowerCF)


def test_the_config_of_a_warm_started_variant_reads_back_from_its_checkpoint(trained: Workspace) -> None:
    # Its section needed base beside it; the checkpoint is one variant's, read back on its own.
    warm = TrainConfig(variants=("base", "full"), fit=replace(CONFIG.fit, warm_start=True,
                                                              model=replace(CONFIG.fit.model, sid_gate=True)))
    model = load_trained(trained, "full")
    model.provenance = {"variant": "full", "fit": to_section(warm.for_variant("full"))}

    assert to_section(trained_fit_config(model)) == to_section(warm.for_variant("full"))
