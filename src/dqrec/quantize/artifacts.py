"""The svd and quantize stages' outputs: the SVD basis with its blocks, and the DQ-VAE checkpoints (the SID
tables are ``dqrec.quantize.sid_tables``: the CF stages read them without the quantiser's code)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dqrec.io import atomic_file
from dqrec.quantize.sid_tables import ENTITIES
from dqrec.quantize.svd import Blocks, SvdBasis

__all__ = ["ENTITIES", "quantizer_checkpoint", "read_basis", "write_basis"]  # ENTITIES: re-exported


def write_basis(svd_dir: Path, entity: str, basis: SvdBasis, blocks: Blocks) -> None:
    with atomic_file(svd_dir / f"{entity}.npz") as stream:
        np.savez(stream, mean=basis.mean, components=basis.components, singular_values=basis.singular_values,
                 block_columns=blocks.columns, block_variance=blocks.variance)


def read_basis(svd_dir: Path, entity: str) -> tuple[SvdBasis, Blocks]:
    with np.load(svd_dir / f"{entity}.npz") as data:
        return (SvdBasis(data["mean"], data["components"], data["singular_values"]),
                Blocks(data["block_columns"], data["block_variance"]))


def quantizer_checkpoint(quantize_dir: Path, entity: str) -> Path:
    """The DQ-VAE checkpoint of ``entity`` (its folder is created, for the writer)."""
    quantize_dir.mkdir(parents=True, exist_ok=True)
    return quantize_dir / f"{entity}.ckpt"
