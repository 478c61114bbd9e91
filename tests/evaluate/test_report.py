from __future__ import annotations

import numpy as np
import torch

from dqrec.evaluate.ranking import UserItems
from dqrec.evaluate.report import evaluate, quintiles


def test_quintiles_are_equal_sized_and_ordered() -> None:
    values = np.array([5, 1, 9, 3, 7, 2, 8, 4, 6, 0])
    groups = quintiles(values)

    assert np.bincount(groups).tolist() == [2, 2, 2, 2, 2]
    assert groups[values.argmin()] == 0 and groups[values.argmax()] == 4
    assert all(values[groups == g].max() < values[groups == g + 1].min() for g in range(4))


def test_report_of_a_perfect_scorer() -> None:
    n_users, n_items = 50, 80
    rng = np.random.default_rng(0)
    known_items = [rng.choice(n_items, size=5, replace=False) for _ in range(n_users)]
    targets = [rng.choice(np.setdiff1d(np.arange(n_items), k), size=2, replace=False) for k in known_items]
    pairs = lambda sets: UserItems.from_pairs(np.repeat(np.arange(n_users), [len(s) for s in sets]),  # noqa: E731
                                              np.concatenate(sets), n_users, n_items)
    oracle = torch.zeros(n_users, n_items)
    for user, items in enumerate(targets):
        oracle[user, items] = 1.0

    report = evaluate(lambda users: oracle[users], pairs(known_items), pairs(targets),
                      np.full(n_users, 5), rng.integers(0, 100, n_items))

    assert report["users"] == n_users
    assert report["recall@10"] == 1.0 and report["ndcg@20"] == 1.0 and report["hr@50"] == 1.0
    assert sum(group["users"] for group in report["by_user_activity"]) == n_users
    assert all(group["recall@20"] == 1.0 for group in report["by_item_popularity"] if group["targets"])
    assert 0 < report["coverage@10"] <= 1
