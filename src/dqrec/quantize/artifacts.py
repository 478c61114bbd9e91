"""On-disk forms of the representation, SVD, quantiser and semantic-ID artifacts, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dqrec.io import atomic_file
from dqrec.quantize.svd import Blocks, SvdBasis

ENTITIES = ("user", "item")


def save_array(path: Path, array: np.ndarray) -> None:
    with atomic_file(path) as stream:
        np.save(stream, array)


def load_array(path: Path) -> np.ndarray:
    return np.load(path)


def save_basis(path: Path, basis: SvdBasis, blocks: Blocks) -> None:
    with atomic_file(path) as stream:
        np.savez(stream, mean=basis.mean, components=basis.components, singular_values=basis.singular_values,
                 block_columns=blocks.columns, block_variance=blocks.variance)


def load_basis(path: Path) -> tuple[SvdBasis, Blocks]:
    with np.load(path) as data:
        return (SvdBasis(data["mean"], data["components"], data["singular_values"]),
                Blocks(data["block_columns"], data["block_variance"]))


def sid_table(codes: np.ndarray, id_column: str) -> pd.DataFrame:
    """One row per entity: its dense id and its codes c_1..c_L."""
    table = pd.DataFrame({id_column: np.arange(len(codes), dtype=np.int64)})
    for level in range(codes.shape[1]):
        table[f"c_{level + 1}"] = codes[:, level].astype(np.int64)
    return table

