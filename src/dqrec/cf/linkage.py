"""Linkage augmentation (BRIEF §1): entities that share SID codes are pattern-similar neighbours, even when
they never co-occur in an interaction. An inverted index from (level, code) to entities finds them."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Neighbours(NamedTuple):
    ids: np.ndarray  # (N, K) neighbour ids, -1 where an entity has fewer than K
    counts: np.ndarray  # (N,) how many of the K are real


def inverted_index(codes: np.ndarray) -> list[list[np.ndarray]]:
    """index[l][c]: the entities whose level-l code is c. ``codes`` is (N, L)."""
    index = []
    for level in range(codes.shape[1]):
        order = np.argsort(codes[:, level], kind="stable")
        boundaries = np.searchsorted(codes[order, level], np.arange(codes[:, level].max() + 2))
        index.append([order[boundaries[c] : boundaries[c + 1]] for c in range(len(boundaries) - 1)])
    return index


def sid_neighbours(codes: np.ndarray, min_shared: int, max_neighbours: int, seed: int) -> Neighbours:
    """For every entity, up to ``max_neighbours`` others sharing at least ``min_shared`` of its L codes (any
    positions), drawn uniformly without replacement under ``seed``."""
    n, n_levels = codes.shape
    if not 1 <= min_shared <= n_levels:
        raise ValueError(f"min_shared must lie in [1, {n_levels}], got {min_shared}")
    index = inverted_index(codes)
    rng = np.random.default_rng(seed)
    ids = np.full((n, max_neighbours), -1, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    for entity in range(n):
        candidates = np.concatenate([index[level][codes[entity, level]] for level in range(n_levels)])
        found, shared = np.unique(candidates, return_counts=True)
        found = found[(shared >= min_shared) & (found != entity)]
        if len(found) > max_neighbours:
            found = rng.choice(found, size=max_neighbours, replace=False)
        ids[entity, : len(found)] = found
        counts[entity] = len(found)
    return Neighbours(ids, counts)
