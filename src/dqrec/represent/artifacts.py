"""The pretrain stage's outputs: Z_user and Z_item, one float32 row per entity by dense id."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dqrec.io import atomic_file


def write_representations(pretrain_dir: Path, entity: str, z: np.ndarray) -> None:
    with atomic_file(pretrain_dir / f"{entity}.npy") as stream:
        np.save(stream, z)


def read_representations(pretrain_dir: Path, entity: str) -> np.ndarray:
    """(N, d) representations of every user or item."""
    return np.load(pretrain_dir / f"{entity}.npy")
