"""The canonical split protocol (one rule everywhere, BRIEF §3).

- ``ratio``: per user, order by (timestamp, item id); the last ``max(1, round(test_ratio * n))`` are test,
  the ``max(1, round(valid_ratio * n))`` before them valid, the rest train. ``round`` is Python's
  (half to even: 25 -> 2). Users with too few interactions to keep one in train stay wholly in train.
- ``leave_one_out``: the same ordering; last is test, second-last valid.
- ``given``: the dataset's own test set; validation is a seeded per-user sample of its train set of size
  ``max(1, round(valid_ratio * n_train))`` (users with a single train interaction keep it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
import pandas as pd


class SplitMethod(StrEnum):
    RATIO = "ratio"
    LEAVE_ONE_OUT = "leave_one_out"
    GIVEN = "given"


SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitConfig:
    """params.yaml's ``split`` section."""

    method: SplitMethod | Literal["auto"] = "auto"  # auto: the protocol the dataset's format implies
    valid_ratio: float = 0.1
    test_ratio: float = 0.1
    seed: int = 2025  # draws the validation sample of datasets with a given train/test split

    def __post_init__(self) -> None:
        for name in ("valid_ratio", "test_ratio"):
            if not 0 < (ratio := getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected a share in (0, 1), got {ratio}")

    def method_for(self, dataset_protocol: str) -> SplitMethod:
        return SplitMethod(dataset_protocol if self.method == "auto" else self.method)


def holdout_sizes(n: int, ratio: float) -> int:
    return max(1, round(ratio * n))


def assign_splits(interactions: pd.DataFrame, method: SplitMethod, valid_ratio: float = 0.1,
                  test_ratio: float = 0.1, seed: int = 0) -> pd.Series:
    """The split ('train' / 'valid' / 'test') of each row of ``interactions``, aligned to its index."""
    if method is SplitMethod.GIVEN:
        return _given(interactions, valid_ratio, seed)
    ordered = interactions.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    sizes = ordered.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    from_end = sizes - 1 - ordered.groupby("user_id", sort=False).cumcount().to_numpy()
    if method is SplitMethod.LEAVE_ONE_OUT:
        n_test = np.ones_like(sizes)
        n_valid = np.ones_like(sizes)
    else:
        n_test = _per_user(sizes, test_ratio)
        n_valid = _per_user(sizes, valid_ratio)
    splittable = sizes > n_test + n_valid
    labels = np.where(~splittable | (from_end >= n_test + n_valid), "train",
                      np.where(from_end < n_test, "test", "valid"))
    return pd.Series(labels, index=ordered.index).reindex(interactions.index)


def tie_broken_shares(splits: dict[str, pd.DataFrame]) -> dict[str, float]:
    """For each split, the share of its rows whose (user, timestamp) also has rows in another split: rows that the
    item-id tie-break, not time, placed. Where it is large, validation and test differ by item id, not by time
    alone (MovieLens's ids grow with a film's addition to the catalogue)."""
    rows = pd.concat([frame[["user_id", "timestamp"]].assign(split=name) for name, frame in splits.items()],
                     ignore_index=True)
    spanning = rows.groupby(["user_id", "timestamp"], sort=False)["split"].transform("nunique").to_numpy() > 1
    in_split = {name: (rows["split"] == name).to_numpy() for name in splits}
    return {name: float(spanning[mask].mean()) if mask.any() else 0.0 for name, mask in in_split.items()}


def _per_user(sizes: np.ndarray, ratio: float) -> np.ndarray:
    # Python's round on each distinct size keeps the protocol's half-to-even rule literally.
    table = {n: holdout_sizes(int(n), ratio) for n in np.unique(sizes)}
    return np.array([table[n] for n in sizes])


def _given(interactions: pd.DataFrame, valid_ratio: float, seed: int) -> pd.Series:
    if "source_split" not in interactions:
        raise ValueError("split 'given' needs a dataset with its own train/test files (a source_split column)")
    labels = interactions["source_split"].to_numpy().astype(object)
    train = interactions.index[labels == "train"]
    users = interactions.loc[train, "user_id"].to_numpy()
    rng = np.random.default_rng(seed)
    keys = rng.random(len(train))
    order = np.lexsort((keys, users))  # by user, then by a random key: a seeded shuffle within each user
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    sizes = np.diff(np.r_[starts, len(sorted_users)])
    rank = np.arange(len(sorted_users)) - np.repeat(starts, sizes)
    n_valid = np.repeat([holdout_sizes(int(n), valid_ratio) if n > 1 else 0 for n in sizes], sizes)
    labels[np.flatnonzero(labels == "train")[order[rank < n_valid]]] = "valid"
    return pd.Series(labels, index=interactions.index, dtype=object)
