"""Shared test helpers: where the real datasets are, and tiny dataset folders built on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dqrec.quantize.sid_tables import Sids

REPO_ROOT = Path(__file__).resolve().parents[1]
# The project's datasets live beside the checkout when the workplace provides them; never in the repo.
SHARED_DATASETS = Path(os.environ.get("DQREC_SHARED_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))


def shared_dataset(name: str) -> Path:
    folder = SHARED_DATASETS / name
    if not folder.is_dir():
        pytest.skip(f"real dataset {name} not found at {folder} (set DQREC_SHARED_DATASETS to its parent folder)")
    return folder


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


RECBOLE_INTER = (
    "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "1\t10\t5\t100\n1\t11\t3\t200\n1\t12\t4\t300\n"
    "2\t10\t2\t150\n2\t12\t1\t250\n2\t13\t5\t350\n"
    "3\t11\t4\t120\n3\t13\t4\t220\n3\t10\t3\t320\n"
)
RECBOLE_USER = ("user_id:token\tage:token\tgender:token\tzip_code:token\n"
                "1\t24\tM\t85711\n2\t53\tF\t94043\n3\t23\tM\t32067\n")
RECBOLE_ITEM = ("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                "10\tToy Story\t1995\tAnimation Comedy\n11\tHeat\t1995\tAction\n"
                "12\tCasino\t1995\tDrama\n13\tBabe\t1995\tComedy Drama\n")


@pytest.fixture
def recbole_folder(tmp_path: Path) -> Path:
    return write_files(tmp_path / "tiny", {"tiny.inter": RECBOLE_INTER, "tiny.user": RECBOLE_USER,
                                           "tiny.item": RECBOLE_ITEM})


@pytest.fixture(scope="module")
def toy() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, Sids]:
    """Two taste groups of users and items; SIDs that tell the groups apart at level 1."""
    rng = np.random.default_rng(0)
    n_users, n_items = 120, 80
    rows = []
    for user in range(n_users):
        group = user % 2
        liked = rng.choice(np.arange(group, n_items, 2), size=12, replace=False)
        rows += [(user, int(item), t) for t, item in enumerate(liked)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(rating=np.nan)
    last = frame.groupby("user_id")["timestamp"].transform("max")
    train, valid = frame[frame["timestamp"] < last], frame[frame["timestamp"] == last]
    users = pd.DataFrame({"user_id": np.arange(n_users), "raw_id": np.arange(n_users).astype(str)})
    items = pd.DataFrame({"item_id": np.arange(n_items), "raw_id": np.arange(n_items).astype(str),
                          "genre": [[1 + i % 2] for i in range(n_items)]})
    codes = lambda n: np.stack([np.arange(n) % 2, rng.integers(0, 4, n), rng.integers(0, 4, n)], axis=1)  # noqa: E731
    return train, valid, users, items, Sids(codes(n_users), codes(n_items), 4, 4)
