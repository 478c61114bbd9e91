"""Batched full ranking over all items, with each user's known items masked, and the ranking metrics.

Protocol (BRIEF §3): every item is a candidate; on validation the user's train items are masked, on test the
train and validation items. Metrics are averaged over users with at least one target item:

- Recall@K = hits in the top K / |targets|
- NDCG@K  = Σ_{r ≤ K, hit} 1 / log2(r + 1)  /  Σ_{r ≤ min(|targets|, K)} 1 / log2(r + 1)   (binary relevance)
- HR@K    = 1 if any target is in the top K
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

if TYPE_CHECKING:
    import pandas as pd

Scorer = Callable[[torch.Tensor], torch.Tensor]  # user ids (B,) -> scores (B, I)


class UserItems(NamedTuple):
    """A set of (user, item) pairs in CSR form: the items of user u are indices[indptr[u]:indptr[u + 1]]."""

    indptr: np.ndarray  # (U + 1,)
    indices: np.ndarray  # (pairs,), sorted within each user
    n_items: int

    @classmethod
    def from_pairs(cls, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> UserItems:
        keys = np.unique(users.astype(np.int64) * n_items + items)  # sorted, each pair once
        counts = np.bincount(keys // n_items, minlength=n_users)
        return cls(np.r_[0, np.cumsum(counts)], keys % n_items, n_items)

    @classmethod
    def from_frame(cls, interactions: pd.DataFrame, n_users: int, n_items: int) -> UserItems:
        """The (user_id, item_id) pairs of an interaction table."""
        return cls.from_pairs(interactions["user_id"].to_numpy(), interactions["item_id"].to_numpy(), n_users,
                              n_items)

    def counts(self, users: np.ndarray) -> np.ndarray:
        return self.indptr[users + 1] - self.indptr[users]

    def pairs_of(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row in ``users``, item) of every pair of the given users."""
        counts = self.counts(users)
        rows = np.repeat(np.arange(len(users)), counts)
        starts = np.repeat(self.indptr[users], counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return rows, self.indices[starts + offsets]

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean array shaped like ``items`` (B, K): is (users[b], items[b, k]) a pair?"""
        # Only the pairs of these users: a batch of validation users must not cost the whole table.
        rows, known = self.pairs_of(users)
        keys = rows * self.n_items + known  # (pairs,) row in users x n_items + item
        return np.isin(np.arange(len(users))[:, None] * self.n_items + items, keys)


def sample_users(users: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``users`` (sorted, distinct), or a seeded sample of ``size`` of them, sorted (0, or more than there are: all)."""
    if 0 < size < len(users):
        return np.sort(np.random.default_rng(seed).choice(users, size=size, replace=False))
    return users


# The scores of one batch of users: at most this many (float32: 256 MB), so that memory grows with the catalogue
# only up to this bound, and never with users x items.
MAX_SCORES_PER_BATCH = 2**26


def users_per_batch(n_items: int, batch_size: int = 1024) -> int:
    """``batch_size`` users, or fewer where their scores against ``n_items`` items would pass the bound above."""
    return max(1, min(batch_size, MAX_SCORES_PER_BATCH // max(1, n_items)))


def top_k(scorer: Scorer, users: np.ndarray, masked: UserItems, k: int, batch_size: int = 1024) -> np.ndarray:
    """(len(users), k) item ids of each user's top k, masked items excluded, best first; users are scored in
    batches of ``batch_size`` (fewer for a large catalogue: ``users_per_batch``)."""
    return top_k_scored(scorer, users, masked, k, batch_size)[0]


@torch.no_grad()
def top_k_scored(scorer: Scorer, users: np.ndarray, masked: UserItems, k: int, batch_size: int = 1024
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``top_k``'s item ids and their scores (len(users), k) float32; a masked item (where fewer than k are left)
    scores -inf."""
    ids = np.empty((len(users), k), dtype=np.int64)
    values = np.empty((len(users), k), dtype=np.float32)
    batch_size = users_per_batch(masked.n_items, batch_size)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        # A copy: the scorer may return a view (of a cache, or an expanded row) that masking must not write into.
        scores = scorer(torch.tensor(batch)).float().clone()  # (B, I); torch.tensor copies: batch may be read-only
        rows, items = masked.pairs_of(batch)
        scores[torch.from_numpy(rows).to(scores.device), torch.from_numpy(items).to(scores.device)] = float("-inf")
        best = torch.topk(scores, k, dim=1)
        ids[start : start + len(batch)] = best.indices.cpu().numpy()
        values[start : start + len(batch)] = best.values.cpu().numpy()
    return ids, values


def ranking_metrics(ranked: np.ndarray, targets: UserItems, users: np.ndarray, ks: tuple[int, ...]
                    ) -> dict[str, np.ndarray]:
    """Per-user Recall, NDCG and HR at each K of ``ranked`` (len(users), >= max K) against ``targets``."""
    hits = targets.contains(users, ranked)  # (U, K_max)
    n_targets = targets.counts(users)
    discounts = 1.0 / np.log2(np.arange(2, ranked.shape[1] + 2))
    cumulative = np.r_[0.0, np.cumsum(discounts)]
    metrics = {}
    for k in ks:
        hit_k = hits[:, :k]
        ideal = cumulative[np.minimum(n_targets, k)]
        metrics[f"recall@{k}"] = hit_k.sum(1) / n_targets
        metrics[f"ndcg@{k}"] = (hit_k * discounts[:k]).sum(1) / ideal
        metrics[f"hr@{k}"] = hit_k.any(1).astype(float)
    return metrics
