"""The train stage's outputs: one self-describing checkpoint per variant and the list of variants trained.

A checkpoint stores, beside its weights, its provenance: the variant, the full fit config it was trained with, and
fingerprints (content hashes) of what it was trained on: the id maps, the train and validation split and, for SID
variants, the SID tables. Whatever scores or serves it rebuilds the model's inputs from the provenance, never from
the current params, and refuses a workspace whose inputs differ."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dqrec.cf.fit import FitConfig, variant_config
from dqrec.cf.model import TwoTowerCF
from dqrec.configtree import ConfigError, from_section, to_section
from dqrec.data.artifacts import read_items, read_split, read_users
from dqrec.io import write_json_atomic
from dqrec.layout import Workspace
from dqrec.quantize.sid_tables import read_sids

VARIANTS_FILE = "variants.json"
INPUTS = {"id_maps": "user and item id maps (data/ingest)", "split": "train and validation split (data/split)",
          "sids": "SID tables (data/sids)"}


class WorkspaceMismatch(ValueError):
    """A checkpoint was trained on inputs (id maps, SID tables, split) other than the workspace's."""


def fingerprint(arrays: Iterable[np.ndarray | pd.Series]) -> str:
    """A content hash of arrays (values, dtypes and shapes), the same whatever file format held them."""
    digest = hashlib.sha256()
    for array in arrays:
        values = np.asarray(array)
        if values.dtype == object:  # strings: hash their text, not object pointers
            values = values.astype(str)
        digest.update(f"{values.dtype.str}{values.shape}".encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:16]


def input_fingerprints(workspace: Workspace, uses_sids: bool) -> dict[str, str]:
    users, items = read_users(workspace.ingest_dir), read_items(workspace.ingest_dir)
    splits = [read_split(workspace.split_dir, name) for name in ("train", "valid")]
    prints = {"id_maps": fingerprint([users["raw_id"], items["raw_id"]]),
              "split": fingerprint(split[column] for split in splits for column in ("user_id", "item_id"))}
    if uses_sids:
        sids = read_sids(workspace.sids_dir)
        prints["sids"] = fingerprint([sids.users, sids.items, np.array([sids.user_codes, sids.item_codes])])
    return prints


def provenance(workspace: Workspace, variant: str, config: FitConfig) -> dict[str, Any]:
    """What a CF checkpoint stores of its training (see the module docstring)."""
    return {"variant": variant, "fit": to_section(config),
            "fingerprints": input_fingerprints(workspace, uses_sids=variant != "base")}


def checkpoint_path(workspace: Workspace, variant: str) -> Path:
    return workspace.train_dir / f"{variant}.ckpt"


def write_trained_variants(workspace: Workspace, variants: list[str]) -> None:
    """Record the variants the train stage wrote, and remove the checkpoints of variants it no longer trains."""
    for path in workspace.train_dir.glob("*.ckpt"):
        if path.stem not in variants:
            path.unlink()
    write_json_atomic(workspace.train_dir / VARIANTS_FILE, variants)


def trained_variants(workspace: Workspace) -> list[str]:
    path = workspace.train_dir / VARIANTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the train stage first (`dvc repro train`)")
    return json.loads(path.read_text())


def load_trained(workspace: Workspace, variant: str) -> TwoTowerCF:
    """The validation-selected checkpoint of a trained variant, on the CPU, in eval mode, with its provenance."""
    checkpoint = checkpoint_path(workspace, variant)
    if not checkpoint.exists():
        raise FileNotFoundError(f"{checkpoint} not found: train variant '{variant}' first (list it in "
                                "train.variants in params.yaml, then run `dvc repro train` or `make pipeline`)")
    return TwoTowerCF.load_from_checkpoint(checkpoint, map_location=torch.device("cpu")).eval()


def trained_fit_config(model: TwoTowerCF) -> FitConfig:
    """The fit config a checkpoint was trained with, its variant's switches set."""
    variant = model.provenance.get("variant")
    if "fit" not in model.provenance or variant is None:
        raise WorkspaceMismatch("the checkpoint records no training config (written before checkpoints described "
                                "themselves); retrain it with `dvc repro train`")
    try:
        fit = from_section(FitConfig, model.provenance["fit"], f"checkpoint of '{variant}'")
        # Not through TrainConfig: its checks are of the whole section (a warm-started variant needs base beside it).
        return variant_config(fit, variant)
    except (ConfigError, ValueError) as error:
        raise WorkspaceMismatch(f"{error}; retrain it with `dvc repro train`") from None


def check_matches(workspace: Workspace, model: TwoTowerCF, checked: tuple[str, ...] = ("id_maps", "sids")) -> None:
    """Refuse a checkpoint whose ``checked`` inputs are not this workspace's: it would score other users and
    items than their ids say, or read SID codes it never saw, without a sign."""
    trained_on = model.provenance.get("fingerprints")
    variant = model.provenance.get("variant", "?")
    if not trained_on:
        raise WorkspaceMismatch(f"the checkpoint of variant '{variant}' records no fingerprints of its inputs "
                                "(written before checkpoints described themselves); retrain it with `dvc repro train`")
    here = input_fingerprints(workspace, uses_sids="sids" in trained_on)
    differing = [name for name in checked if name in trained_on and trained_on[name] != here[name]]
    if differing:
        raise WorkspaceMismatch(
            f"{checkpoint_path(workspace, variant)} was trained with other "
            f"{' and '.join(INPUTS[name] for name in differing)} than this workspace has "
            f"({'; '.join(f'{n}: trained on {trained_on[n]}, workspace has {here[n]}' for n in differing)}); "
            "bring them back in step with `dvc repro` (or `dvc checkout` for the committed artifacts)")


def train_report(workspace: Workspace, variant: str) -> dict:
    """What the train stage reported of ``variant`` (best epoch, whether it was refit, ...)."""
    path = workspace.metrics_file("train")
    trained = json.loads(path.read_text()) if path.exists() else {}
    if variant not in trained:
        raise FileNotFoundError(f"{path} has no variant '{variant}' (it has: {', '.join(trained) or 'none'}); "
                                "add it to train.variants in params.yaml and run `dvc repro train`")
    return trained[variant]
