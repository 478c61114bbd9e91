from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dqrec.evaluate.ranking import UserItems
from dqrec.evaluate.report import (
    confidence_half_width,
    evaluate,
    evaluate_users,
    popularity_profile,
    quintiles,
)


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


def test_popularity_profile_tells_a_head_heavy_split_from_one_drawn_like_train() -> None:
    rng = np.random.default_rng(0)
    weights = 1 / np.arange(1, 501) ** 0.8
    train_items = rng.choice(500, 20_000, p=weights / weights.sum())  # a long tail over 500 items
    popularity = np.bincount(train_items, minlength=500)
    head = np.argsort(-popularity, kind="stable")[:5]  # the top 1 % of 500

    own = popularity_profile(popularity, train_items)
    like_train = popularity_profile(popularity, rng.choice(train_items, 2_000))
    half_head = np.concatenate([rng.choice(train_items, 1_000), rng.choice(head, 1_000)])
    head_heavy = popularity_profile(popularity, half_head)

    assert own["mean_popularity"] == pytest.approx((popularity.astype(float) ** 2).sum() / popularity.sum())
    assert own["head_share"] == pytest.approx(np.isin(train_items, head).mean())
    assert like_train["head_share"] == pytest.approx(own["head_share"], abs=0.03)
    assert head_heavy["head_share"] > own["head_share"] + 0.3
    assert head_heavy["mean_popularity"] > own["mean_popularity"]
    unseen = popularity_profile(np.append(popularity, [0, 0]), np.array([500, 501]))
    assert unseen == {"mean_popularity": 0.0, "median_popularity": 0.0, "head_share": 0.0}


@pytest.mark.parametrize(("items", "share", "message"), [(np.array([], dtype=np.int64), 0.01, "no interactions"),
                                                         (np.array([0]), 0.0, "head_share")])
def test_popularity_profile_refuses_what_it_cannot_profile(items: np.ndarray, share: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        popularity_profile(np.array([3, 1]), items, share)


def test_the_per_user_metrics_average_to_the_report_and_name_each_user_once() -> None:
    n_users, n_items = 40, 60
    rng = np.random.default_rng(1)
    known = UserItems.from_pairs(np.repeat(np.arange(n_users), 4), rng.integers(0, n_items, 4 * n_users),
                                 n_users, n_items)
    with_targets = np.arange(0, n_users, 2)  # half the users have a test item
    targets = UserItems.from_pairs(with_targets, rng.integers(0, n_items, len(with_targets)), n_users, n_items)
    scores = torch.from_numpy(rng.random((n_users, n_items)).astype(np.float32))
    activity = rng.integers(1, 30, n_users)

    evaluation = evaluate_users(lambda users: scores[users], known, targets, activity, np.ones(n_items))

    per_user = evaluation.per_user
    assert per_user["user_id"].tolist() == with_targets.tolist()
    assert per_user["train_interactions"].tolist() == activity[with_targets].tolist()
    for metric in ("recall@10", "ndcg@20", "ndcg@50"):
        assert per_user[metric].mean() == pytest.approx(evaluation.report[metric])
    # The sparsest fifth, taken from the per-user table, is the report's group 0.
    sparsest = per_user[quintiles(per_user["train_interactions"].to_numpy()) == 0]
    assert sparsest["ndcg@20"].mean() == pytest.approx(evaluation.report["by_user_activity"][0]["ndcg@20"])


def test_a_sampled_evaluation_ranks_a_seeded_sample_and_gives_each_mean_its_interval() -> None:
    n_users, n_items = 400, 50
    rng = np.random.default_rng(2)
    known = UserItems.from_pairs(np.arange(n_users), rng.integers(0, n_items, n_users), n_users, n_items)
    targets = UserItems.from_pairs(np.arange(n_users), rng.integers(0, n_items, n_users), n_users, n_items)
    scores = torch.from_numpy(rng.random((n_users, n_items)).astype(np.float32))
    score = lambda users: scores[users]  # noqa: E731
    activity = rng.integers(1, 30, n_users)

    full = evaluate_users(score, known, targets, activity, np.ones(n_items))
    sampled = evaluate_users(score, known, targets, activity, np.ones(n_items), max_users=100, seed=7)
    again = evaluate_users(score, known, targets, activity, np.ones(n_items), max_users=100, seed=7)

    assert "sampled_from" not in full.report and "ndcg@20_ci95" not in full.report
    assert sampled.report["users"] == 100 and sampled.report["sampled_from"] == n_users
    assert sampled.per_user["user_id"].is_monotonic_increasing
    pd.testing.assert_frame_equal(sampled.per_user, again.per_user)
    # The sample's users score as they do in the full evaluation, and its interval holds the full mean here.
    merged = sampled.per_user.merge(full.per_user, on="user_id", suffixes=("", "_full"))
    np.testing.assert_allclose(merged["ndcg@20"], merged["ndcg@20_full"])
    assert 0 < sampled.report["ndcg@20_ci95"] < 0.1
    assert abs(sampled.report["ndcg@20"] - full.report["ndcg@20"]) <= sampled.report["ndcg@20_ci95"]


def test_an_interval_shrinks_to_nothing_when_the_sample_is_everyone() -> None:
    values = np.random.default_rng(0).random(50)

    assert confidence_half_width(values, population=50) == 0.0
    assert confidence_half_width(values, population=5000) > confidence_half_width(values, population=100) > 0
