"""Tensors the towers read: each user's training history and each entity's attribute bags."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

ID_COLUMNS = {"user_id", "item_id", "raw_id", "title", "description"}  # and text: no attribute bags


def in_time_order(interactions: pd.DataFrame) -> pd.DataFrame:
    """Each user's interactions one after another, oldest first (ties by item id)."""
    return interactions.sort_values(["user_id", "timestamp", "item_id"], kind="stable")


class TimeOrdered(NamedTuple):
    """An ``in_time_order`` split as tensors: row n of the frame is position n."""

    items: torch.Tensor  # (N,) long, item id + 1
    starts: torch.Tensor  # (U,) long, the position of each user's first row (of the next user's, if none)

    @classmethod
    def of(cls, ordered: pd.DataFrame, n_users: int) -> TimeOrdered:
        users, times = np.diff(ordered["user_id"].to_numpy()), np.diff(ordered["timestamp"].to_numpy())
        if not ((users > 0) | ((users == 0) & (times >= 0))).all():
            raise ValueError("TimeOrdered.of: expected the frame in_time_order returns (each user's rows one "
                             "after another, oldest first)")
        counts = np.bincount(ordered["user_id"].to_numpy(), minlength=n_users)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return cls(torch.tensor(ordered["item_id"].to_numpy() + 1, dtype=torch.long),
                   torch.from_numpy(starts.astype(np.int64)))


def user_histories(train: pd.DataFrame, n_users: int, max_length: int) -> torch.Tensor:
    """(U, H) long: each user's most recent ``max_length`` training items in time order, as item id + 1,
    left-padded with 0. Only the train split is read, so nothing of validation or test leaks in."""
    ordered = in_time_order(train)
    users = ordered["user_id"].to_numpy()
    items = ordered["item_id"].to_numpy() + 1
    counts = np.bincount(users, minlength=n_users)
    ends = np.cumsum(counts)
    # Position of each interaction counted from its user's last one: 0 for the most recent.
    from_end = np.repeat(ends, counts) - 1 - np.arange(len(users))
    keep = from_end < max_length
    histories = np.zeros((n_users, max_length), dtype=np.int64)
    histories[users[keep], max_length - 1 - from_end[keep]] = items[keep]
    return torch.from_numpy(histories)


def attribute_bags(table: pd.DataFrame) -> dict[str, torch.Tensor]:
    """Each attribute column (lists of token ids from 1) as an (N, A) long tensor, right-padded with 0."""
    bags = {}
    for column in table.columns:
        if column in ID_COLUMNS:
            continue
        values = table[column].tolist()
        width = max(1, max((len(v) for v in values), default=1))
        bag = np.zeros((len(values), width), dtype=np.int64)
        for row, tokens in enumerate(values):
            bag[row, : len(tokens)] = tokens
        bags[column] = torch.from_numpy(bag)
    return bags


def vocabulary_sizes(bags: dict[str, torch.Tensor]) -> dict[str, int]:
    """Embedding table sizes: the largest token id + 1 (0 is padding)."""
    return {name: int(bag.max()) + 1 for name, bag in bags.items()}
