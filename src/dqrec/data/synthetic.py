"""Seeded synthetic implicit feedback with the skew of real catalogues, for measuring how costs grow with size.

- Item popularity is Zipf-like (the r-th most popular item is drawn ∝ 1 / r^popularity_exponent), over a random
  permutation of the item ids, so that id order says nothing about popularity.
- User activity is long-tailed (a Pareto draw, at least ``min_per_user``), with the requested mean.
- Each user leans towards one of ``n_clusters`` taste clusters: a ``cluster_share`` of their items comes from the
  cluster's own items (by popularity within it), so that there is collaborative signal to learn.
- Items carry a category path (one or two of ``n_categories``, pipe-separated) and a brand; users a region.

Written as the plain-table format (``interactions.parquet``, ``items.parquet``, ``users.parquet``) that every
reader path of ``dqrec.data`` accepts, with increasing unix timestamps per user.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dqrec.io import atomic_directory


@dataclass(frozen=True)
class SyntheticConfig:
    interactions: int = 1_000_000  # about: a user whose draws repeat themselves may end with fewer
    mean_per_user: float = 20.0  # users = interactions / mean_per_user
    items_per_interaction: float = 0.02  # items = interactions x this
    popularity_exponent: float = 0.9
    activity_exponent: float = 1.5  # Pareto shape of user activity: smaller is more skewed
    min_per_user: int = 3  # enough for a train, a validation and a test interaction
    n_clusters: int = 200
    cluster_share: float = 0.6
    n_categories: int = 60
    n_brands: int = 2_000
    n_regions: int = 20
    seed: int = 0

    @property
    def n_users(self) -> int:
        return max(1, round(self.interactions / self.mean_per_user))

    @property
    def n_items(self) -> int:
        return max(2, round(self.interactions * self.items_per_interaction))


def _activity(config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """(U,) interactions per user: at least ``min_per_user``, plus a Pareto tail capped at a tenth of the catalogue,
    scaled (by bisection) so that the total is the number of interactions asked for."""
    tail = rng.pareto(config.activity_exponent, config.n_users)
    cap = max(config.min_per_user, config.n_items // 10)

    def counts(scale: float) -> np.ndarray:
        return np.minimum(config.min_per_user + np.floor(scale * tail).astype(np.int64), cap)

    low, high = 0.0, 1.0
    while counts(high).sum() < config.interactions and high < 1e9:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if counts(middle).sum() < config.interactions else (low, middle)
    return counts(high)


def _zipf_weights(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def interactions(config: SyntheticConfig) -> pd.DataFrame:
    """user_id, item_id, timestamp: each (user, item) pair once, sorted by user then time."""
    rng = np.random.default_rng(config.seed)
    n_users, n_items = config.n_users, config.n_items
    counts = _activity(config, rng)  # (U,)
    # Three times as many draws as wanted, so that each user still has their count once repeats are merged.
    users = np.repeat(np.arange(n_users), 3 * counts)  # (3N,)
    # Popularity by rank, ranks shuffled over ids: item ranked[r] is the r-th most popular.
    ranked = rng.permutation(n_items)
    global_draw = ranked[rng.choice(n_items, size=len(users), p=_zipf_weights(n_items, config.popularity_exponent))]
    # Clusters own contiguous slices of the popularity ranking's random permutation: each has a head and a tail.
    item_cluster = rng.integers(0, config.n_clusters, n_items)
    by_cluster = np.argsort(item_cluster[ranked], kind="stable")  # ranks grouped by cluster, popular first
    cluster_items = ranked[by_cluster]
    starts = np.searchsorted(item_cluster[cluster_items], np.arange(config.n_clusters))
    sizes = np.diff(np.r_[starts, n_items])
    user_cluster = rng.integers(0, config.n_clusters, n_users)[users]  # (N,)
    # Within a cluster, rank r is drawn ∝ 1 / (r + 1)^exponent, by inverting the continuous approximation.
    size = np.maximum(sizes[user_cluster], 1)
    u = rng.random(len(users))
    s = config.popularity_exponent
    within = np.floor((1 + u * ((size + 1) ** (1 - s) - 1)) ** (1 / (1 - s))).astype(np.int64) - 1
    cluster_draw = cluster_items[np.minimum(starts[user_cluster] + np.clip(within, 0, size - 1), n_items - 1)]
    from_cluster = (rng.random(len(users)) < config.cluster_share) & (sizes[user_cluster] > 0)
    items = np.where(from_cluster, cluster_draw, global_draw)
    # Repeats merged: each user keeps the first counts[u] distinct items of their draws, in draw order.
    keys, first = np.unique(users * n_items + items, return_index=True)
    users, items = keys // n_items, keys % n_items
    by_draw = np.lexsort((first, users))
    users, items = users[by_draw], items[by_draw]
    user_start = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
    rank = np.arange(len(users)) - np.repeat(user_start, np.diff(np.r_[user_start, len(users)]))
    kept = rank < counts[users]
    users, items = users[kept], items[kept]
    # Increasing times per user, a few hours to a few days apart, from a per-user start in 2020.
    gaps = rng.integers(3_600, 400_000, len(users))
    order = rng.permutation(len(users))  # the pair order within a user is random, not by item id
    users, items = users[order], items[order]
    resort = np.argsort(users, kind="stable")
    users, items, gaps = users[resort], items[resort], gaps[resort]
    starts_at = 1_577_836_800 + rng.integers(0, 30_000_000, n_users)
    user_start = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
    cumulative = np.cumsum(gaps)
    before = np.repeat(cumulative[user_start] - gaps[user_start], np.diff(np.r_[user_start, len(users)]))
    timestamps = starts_at[users] + cumulative - before
    return pd.DataFrame({"user_id": users, "item_id": items, "timestamp": timestamps})


def items_table(config: SyntheticConfig) -> pd.DataFrame:
    """item_id, title, category (one or two, pipe-separated), brand."""
    rng = np.random.default_rng([config.seed, 1])
    n = config.n_items
    weights = _zipf_weights(config.n_categories, 1.0)
    first = rng.choice(config.n_categories, size=n, p=weights)
    second = rng.choice(config.n_categories, size=n, p=weights)
    two = (rng.random(n) < 0.4) & (second != first)
    categories = np.char.add(np.char.add("c", first.astype(str)),
                             np.where(two, np.char.add("|c", second.astype(str)), ""))
    brands = np.char.add("b", rng.choice(config.n_brands, size=n, p=_zipf_weights(config.n_brands, 1.0)).astype(str))
    ids = np.arange(n)
    return pd.DataFrame({"item_id": ids, "title": np.char.add("item ", ids.astype(str)), "category": categories,
                         "brand": brands})


def users_table(config: SyntheticConfig) -> pd.DataFrame:
    """user_id, region."""
    rng = np.random.default_rng([config.seed, 2])
    return pd.DataFrame({"user_id": np.arange(config.n_users),
                         "region": np.char.add("r", rng.integers(0, config.n_regions, config.n_users).astype(str))})


def write_synthetic(config: SyntheticConfig, folder: Path) -> dict[str, int]:
    """Write the dataset into ``folder`` (replaced atomically); returns its users, items and interactions."""
    frame = interactions(config)
    with atomic_directory(folder) as staging:
        frame.to_parquet(staging / "interactions.parquet", index=False)
        items_table(config).to_parquet(staging / "items.parquet", index=False)
        users_table(config).to_parquet(staging / "users.parquet", index=False)
    return {"users": int(frame["user_id"].nunique()), "items": int(frame["item_id"].nunique()),
            "interactions": len(frame)}
