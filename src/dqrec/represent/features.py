"""Tensors the towers read: each user's training history and each entity's attribute bags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

ID_COLUMNS = {"user_id", "item_id", "raw_id", "title", "description"}  # and text: no attribute bags


def user_histories(train: pd.DataFrame, n_users: int, max_length: int) -> torch.Tensor:
    """(U, H) long: each user's most recent ``max_length`` training items in time order, as item id + 1,
    left-padded with 0. Only the train split is read, so nothing of validation or test leaks in."""
    ordered = train.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
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
