"""The sids stage's outputs: one SID table per entity kind (dense id, codes c_1..c_L) and the codebook size J of
each: everything the CF model reads of the semantic IDs, never the codebooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from dqrec.io import atomic_file, write_json_atomic

ENTITIES = ("user", "item")
CODE_SIZES = "code_sizes.json"


class Sids(NamedTuple):
    """Everything the CF model reads of the semantic IDs (never the codebooks)."""

    users: np.ndarray  # (U, L)
    items: np.ndarray  # (I, L)
    user_codes: int  # J of the user codebooks
    item_codes: int


def sid_table(codes: np.ndarray, id_column: str) -> pd.DataFrame:
    """One row per entity: its dense id and its codes c_1..c_L."""
    table = pd.DataFrame({id_column: np.arange(len(codes), dtype=np.int64)})
    for level in range(codes.shape[1]):
        table[f"c_{level + 1}"] = codes[:, level].astype(np.int64)
    return table


def write_sids(sids_dir: Path, codes: dict[str, np.ndarray], sizes: dict[str, int]) -> None:
    """Each entity kind's SID table and the codebook size J of each."""
    for entity, entity_codes in codes.items():
        with atomic_file(sids_dir / f"{entity}.parquet") as stream:
            sid_table(entity_codes, f"{entity}_id").to_parquet(stream, index=False)
    write_json_atomic(sids_dir / CODE_SIZES, sizes)


def read_sid_codes(sids_dir: Path, entity: str) -> pd.DataFrame:
    """The SID table of ``entity``: its dense id column and c_1..c_L."""
    return pd.read_parquet(sids_dir / f"{entity}.parquet")


def read_sids(sids_dir: Path) -> Sids:
    codes = {e: read_sid_codes(sids_dir, e).filter(like="c_").to_numpy(copy=True) for e in ENTITIES}  # writable
    sizes = json.loads((sids_dir / CODE_SIZES).read_text())
    return Sids(codes["user"], codes["item"], int(sizes["user"]), int(sizes["item"]))


def item_sid_strings(sids_dir: Path) -> pd.Series:
    """Each item's SID as text (``c_1-c_2-...``), by dense item id."""
    codes = read_sid_codes(sids_dir, "item").set_index("item_id").filter(like="c_")
    return codes.astype(str).agg("-".join, axis=1)
