"""Ranking metrics against a plain, independent per-user implementation; masking never leaks known items."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from dqrec.evaluate.ranking import UserItems, ranking_metrics, top_k

N_USERS, N_ITEMS = 60, 200


def reference_metrics(scores: np.ndarray, known: list[set[int]], targets: list[set[int]], k: int
                      ) -> dict[str, list[float]]:
    """Sort every item by score, drop known ones, count hits: one user at a time, no shared code."""
    result: dict[str, list[float]] = {"recall": [], "ndcg": [], "hr": []}
    for user, target in enumerate(targets):
        if not target:
            continue
        candidates = [i for i in sorted(range(N_ITEMS), key=lambda i: -scores[user, i]) if i not in known[user]][:k]
        gains = [1.0 / math.log2(rank + 2) for rank, item in enumerate(candidates) if item in target]
        ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(target), k)))
        result["recall"].append(sum(item in target for item in candidates) / len(target))
        result["ndcg"].append(sum(gains) / ideal)
        result["hr"].append(float(any(item in target for item in candidates)))
    return result


def random_sets(rng: np.random.Generator, low: int, high: int) -> list[set[int]]:
    return [set(rng.choice(N_ITEMS, size=int(rng.integers(low, high)), replace=False).tolist())
            for _ in range(N_USERS)]


def as_pairs(sets: list[set[int]]) -> UserItems:
    users = np.array([u for u, items in enumerate(sets) for _ in items], dtype=np.int64)
    items = np.array([i for s in sets for i in s], dtype=np.int64)
    return UserItems.from_pairs(users, items, N_USERS, N_ITEMS)


@pytest.mark.parametrize("seed", range(3))
def test_metrics_agree_with_an_independent_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((N_USERS, N_ITEMS)).astype(np.float32)
    known = random_sets(rng, 0, 40)
    targets = [s - k for s, k in zip(random_sets(rng, 0, 15), known, strict=True)]
    evaluated = np.array([u for u in range(N_USERS) if targets[u]])

    ranked = top_k(lambda users: torch.from_numpy(scores)[users], evaluated, as_pairs(known), 50, batch_size=7)
    ours = ranking_metrics(ranked, as_pairs(targets), evaluated, (10, 20, 50))

    for k in (10, 20, 50):
        expected = reference_metrics(scores, known, targets, k)
        for name in ("recall", "ndcg", "hr"):
            np.testing.assert_allclose(ours[f"{name}@{k}"], expected[name], atol=1e-6)


def test_masked_items_never_reach_the_ranking() -> None:
    rng = np.random.default_rng(5)
    known = random_sets(rng, 50, 150)
    # Known items score highest of all: only masking can keep them out.
    scores = np.zeros((N_USERS, N_ITEMS), dtype=np.float32)
    for user, items in enumerate(known):
        scores[user, list(items)] = 100.0
    users = np.arange(N_USERS)

    ranked = top_k(lambda batch: torch.from_numpy(scores)[batch], users, as_pairs(known), 40)

    assert not any(set(ranked[u]) & known[u] for u in users)


def test_masking_does_not_write_into_the_scores_the_scorer_returned() -> None:
    rng = np.random.default_rng(7)
    known = random_sets(rng, 5, 30)
    popularity = torch.arange(N_ITEMS, dtype=torch.float32)  # one row for everybody, returned as a view
    users = np.arange(N_USERS)

    ranked = top_k(lambda batch: popularity.expand(len(batch), N_ITEMS), users, as_pairs(known), 10)

    assert popularity.isfinite().all()
    for user in users:  # each user gets the most popular items they do not know, in order
        expected = [i for i in range(N_ITEMS - 1, -1, -1) if i not in known[user]][:10]
        assert ranked[user].tolist() == expected


def test_user_items_round_trip() -> None:
    pairs = UserItems.from_pairs(np.array([2, 0, 2, 2]), np.array([5, 1, 3, 5]), n_users=4, n_items=10)

    assert pairs.counts(np.arange(4)).tolist() == [1, 0, 2, 0]  # the repeated (2, 5) counts once
    rows, items = pairs.pairs_of(np.array([2, 0]))
    assert list(zip(rows.tolist(), items.tolist(), strict=True)) == [(0, 3), (0, 5), (1, 1)]
    assert pairs.contains(np.array([2]), np.array([[3, 4, 5]])).tolist() == [[True, False, True]]


def test_user_items_from_an_interaction_table_keep_its_pairs() -> None:
    table = pd.DataFrame({"user_id": [2, 0, 2, 2], "item_id": [5, 1, 3, 5], "timestamp": [4, 3, 2, 1]})
    pairs = UserItems.from_frame(table, n_users=4, n_items=10)

    assert pairs.indptr.tolist() == [0, 1, 1, 3, 3] and pairs.indices.tolist() == [1, 3, 5]
