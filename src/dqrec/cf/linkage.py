"""Linkage augmentation (BRIEF §1): entities that share SID codes are pattern-similar neighbours, even when
they never co-occur in an interaction. Entities grouped by their codes at each m-subset of levels find them."""

from __future__ import annotations

import math
from itertools import combinations
from typing import NamedTuple

import numpy as np


class Neighbours(NamedTuple):
    ids: np.ndarray  # (N, K) neighbour ids, -1 where an entity has fewer than K
    counts: np.ndarray  # (N,) how many of the K are real


class _Groups(NamedTuple):
    """Entities grouped by their codes at a set of levels: group g's members are order[starts[g]:ends[g]]."""

    group: np.ndarray  # (N,) each entity's group
    order: np.ndarray  # (N,) entities sorted by group
    starts: np.ndarray  # (G,)
    ends: np.ndarray  # (G,)


def _groups(codes: np.ndarray) -> _Groups:
    """Group the rows of ``codes`` (N, m) by their whole row."""
    _, group = np.unique(codes, axis=0, return_inverse=True)
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(group.max() + 2))
    return _Groups(group, order, bounds[:-1], bounds[1:])


# An entity whose groups hold at most this many candidates in all draws its neighbours from their materialised union
# (as linkage always has); above it, by rejection sampling, whose cost does not grow with the groups. Codes that agree
# across levels (SID collisions) make groups that grow with the catalogue, and materialising them cost each entity
# time in proportion: quadratic in all.
EXACT_CANDIDATES = 1024
_PROPOSALS = 4  # rejection proposals per wanted neighbour and round


def sid_neighbours(codes: np.ndarray, min_shared: int, max_neighbours: int, seed: int) -> Neighbours:
    """For every entity, up to ``max_neighbours`` others sharing at least ``min_shared`` of its L codes (any
    positions), drawn uniformly without replacement under ``seed``."""
    n, n_levels = codes.shape
    if not 1 <= min_shared <= n_levels:
        raise ValueError(f"min_shared must lie in [1, {n_levels}], got {min_shared}")
    # Sharing at least m codes is agreeing on all of some m levels: the union of the entity's groups over every
    # m-subset of levels. Those groups are about J^m times smaller than one level's bucket of N / J entities.
    groupings = [_groups(codes[:, list(levels)]) for levels in combinations(range(n_levels), min_shared)]
    sizes = np.stack([g.ends[g.group] - g.starts[g.group] for g in groupings], axis=1)  # (N, C)
    large = sizes.sum(1) > EXACT_CANDIDATES
    rng = np.random.default_rng(seed)
    ids = np.full((n, max_neighbours), -1, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    for entity in np.flatnonzero(~large):
        candidates = np.concatenate([g.order[g.starts[g.group[entity]] : g.ends[g.group[entity]]]
                                     for g in groupings])
        found = np.unique(candidates)
        found = found[found != entity]
        if len(found) > max_neighbours:
            found = rng.choice(found, size=max_neighbours, replace=False)
        ids[entity, : len(found)] = found
        counts[entity] = len(found)
    if large.any():
        entities = np.flatnonzero(large)
        ids[entities], counts[entities] = _rejection_sample(codes, groupings, sizes[entities], entities, min_shared,
                                                            max_neighbours, np.random.default_rng([seed, 1]))
    return Neighbours(ids, counts)


def _rejection_sample(codes: np.ndarray, groupings: list[_Groups], sizes: np.ndarray, entities: np.ndarray,
                      min_shared: int, k: int, rng: np.random.Generator, chunk: int = 65_536
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``k`` distinct neighbours of each of ``entities`` (E,), uniform over the union of its groups (their
    ``sizes`` (E, C)): a proposal picks a group in proportion to its size and a member uniformly, and is kept with
    probability 1 / (the number of the entity's groups that hold it), so every member of the union is equally
    likely; repeats are dropped, so the first k kept are a uniform sample without replacement. Every entity here
    has over EXACT_CANDIDATES candidates: k distinct ones always exist."""
    n_levels = codes.shape[1]
    # A neighbour sharing s codes lies in C(s, m) of the entity's groups.
    multiplicity = np.array([math.comb(shared, min_shared) for shared in range(n_levels + 1)], dtype=np.float64)
    ids = np.full((len(entities), k), -1, dtype=np.int64)
    for first in range(0, len(entities), chunk):
        rows = np.arange(first, min(first + chunk, len(entities)))
        while len(rows):
            entity, size = entities[rows], sizes[rows]  # (R,), (R, C)
            draws = rng.random((len(rows), _PROPOSALS * k)) * size.sum(1, keepdims=True)  # (R, P)
            ends = np.cumsum(size, axis=1)  # (R, C)
            # (R, P): which of the entity's groups each draw falls in, and where in it
            group = np.minimum((draws[:, :, None] >= ends[:, None, :]).sum(-1), size.shape[1] - 1)
            offset = (draws - np.take_along_axis(ends - size, group, axis=1)).astype(np.int64)
            proposal = np.empty_like(offset)
            for c, g in enumerate(groupings):
                hit = group == c
                members = g.group[np.broadcast_to(entity[:, None], hit.shape)[hit]]
                proposal[hit] = g.order[np.minimum(g.starts[members] + offset[hit], g.ends[members] - 1)]
            shared = (codes[proposal] == codes[entity][:, None, :]).sum(-1)  # (R, P)
            kept = (rng.random(proposal.shape) * multiplicity[shared] < 1) & (proposal != entity[:, None])
            merged = np.concatenate([ids[rows], np.where(kept, proposal, -1)], axis=1)  # (R, k + P)
            ids[rows] = _first_distinct(merged, k)
            rows = rows[(ids[rows] < 0).any(1)]
    return ids, (ids >= 0).sum(1)


def _first_distinct(values: np.ndarray, k: int) -> np.ndarray:
    """(R, k): each row's first k distinct values >= 0 in column order, -1 after the last."""
    n_rows, width = values.shape
    row = np.repeat(np.arange(n_rows), width)
    flat = values.ravel()
    valid = flat >= 0
    keys = row[valid] * (flat.max() + 1) + flat[valid]
    _, first = np.unique(keys, return_index=True)  # positions (among the valid) of first occurrences
    keep = np.zeros(len(flat), dtype=bool)
    keep[np.flatnonzero(valid)[first]] = True
    keep = keep.reshape(n_rows, width)
    rank = np.cumsum(keep, axis=1) - 1  # (R, width): the place of each kept value in its row
    result = np.full((n_rows, k), -1, dtype=np.int64)
    r, c = np.nonzero(keep & (rank < k))
    result[r, rank[r, c]] = values[r, c]
    return result
