"""The on-disk layout of the ingest and split artifacts; every write is atomic (all files or none)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dqrec.data.schemas import INTERACTIONS_SCHEMA
from dqrec.data.split import SPLITS
from dqrec.io import atomic_directory

if TYPE_CHECKING:  # the readers behind it are the ingest stage's, not its readers'
    from dqrec.data.ingest import CanonicalDataset

INTERACTIONS = "interactions.parquet"
USERS = "users.parquet"
ITEMS = "items.parquet"
VOCAB = "vocab.json"
SOURCE = "source.json"


def _dump(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def write_ingest(dataset: CanonicalDataset, out_dir: Path) -> None:
    with atomic_directory(out_dir) as staging:
        dataset.interactions.to_parquet(staging / INTERACTIONS, index=False)
        dataset.users.to_parquet(staging / USERS, index=False)
        dataset.items.to_parquet(staging / ITEMS, index=False)
        _dump(staging / VOCAB, dataset.vocab)
        _dump(staging / SOURCE, dataset.source)


def read_interactions(ingest_dir: Path) -> pd.DataFrame:
    return INTERACTIONS_SCHEMA.validate(pd.read_parquet(ingest_dir / INTERACTIONS))


def read_users(ingest_dir: Path) -> pd.DataFrame:
    """user_id (dense), raw_id (the dataset's own), one list[int] column per attribute."""
    return pd.read_parquet(ingest_dir / USERS)


def read_items(ingest_dir: Path) -> pd.DataFrame:
    """item_id (dense), raw_id, title, one list[int] column per attribute."""
    return pd.read_parquet(ingest_dir / ITEMS)


def read_source(ingest_dir: Path) -> dict[str, Any]:
    return json.loads((ingest_dir / SOURCE).read_text())


def write_splits(interactions: pd.DataFrame, labels: pd.Series, out_dir: Path) -> None:
    columns = ["user_id", "item_id", "timestamp", "rating"]
    with atomic_directory(out_dir) as staging:
        for split in SPLITS:
            interactions.loc[labels == split, columns].to_parquet(staging / f"{split}.parquet", index=False)


def read_split(split_dir: Path, split: str) -> pd.DataFrame:
    return INTERACTIONS_SCHEMA.validate(pd.read_parquet(split_dir / f"{split}.parquet"))
