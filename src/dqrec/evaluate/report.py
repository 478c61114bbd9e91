"""The evaluation report of one model on one split: overall ranking metrics, item coverage, and breakdowns by
user activity and item popularity (where sparsity hurts most)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from dqrec.evaluate.ranking import Scorer, UserItems, ranking_metrics, sample_users, top_k

KS = (10, 20, 50)
N_GROUPS = 5
HEAD_SHARE = 0.01  # the most popular 1 % of items: "the head" in popularity profiles


@dataclass(frozen=True)
class EvaluateConfig:
    """params.yaml's ``evaluate`` section."""

    max_users: int = 0  # a seeded sample of this many test users (0: every test user, the protocol)
    seed: int = 2025

    def __post_init__(self) -> None:
        if self.max_users < 0:
            raise ValueError(f"max_users: expected a number of users >= 0 (0: all), got {self.max_users}")


FULL_RANKING = EvaluateConfig()  # the default: every test user


def users_with_targets(targets: UserItems) -> np.ndarray:
    """The users (sorted) with at least one target."""
    return np.flatnonzero(targets.counts(np.arange(len(targets.indptr) - 1)) > 0)


def confidence_half_width(values: np.ndarray, population: int, z: float = 1.96) -> float:
    """Half the width of the 95 % normal interval of the mean of a simple random sample ``values`` drawn without
    replacement from ``population`` users (finite-population corrected: 0 when the sample is everyone)."""
    n = len(values)
    if n < 2:
        return float("nan")
    correction = (population - n) / max(1, population - 1)
    return float(z * values.std(ddof=1) / np.sqrt(n) * np.sqrt(correction))


def quintiles(values: np.ndarray, n_groups: int = N_GROUPS) -> np.ndarray:
    """Group 0..n-1 of each value by rank (ties broken by position), equal-sized up to one: 0 is the lowest."""
    order = np.argsort(values, kind="stable")
    groups = np.empty(len(values), dtype=np.int64)
    groups[order] = np.arange(len(values)) * n_groups // max(1, len(values))
    return groups


def popularity_profile(item_popularity: np.ndarray, items: np.ndarray, head_share: float = HEAD_SHARE
                       ) -> dict[str, float]:
    """How popular, by ``item_popularity`` (I,) (train interactions per item), the items of a split's interactions
    ``items`` (N,) are: their mean and median popularity and the share of them in the head (the ``head_share``
    most popular items). A split drawn like train matches train's own profile; one that does not, does not."""
    if not 0 < head_share <= 1:
        raise ValueError(f"head_share: expected a share in (0, 1], got {head_share}")
    if len(items) == 0:
        raise ValueError("popularity_profile: no interactions to profile")
    n_head = max(1, round(head_share * len(item_popularity)))
    head = np.zeros(len(item_popularity), dtype=bool)
    head[np.argsort(-item_popularity, kind="stable")[:n_head]] = True
    popularity = item_popularity[items]
    return {"mean_popularity": float(popularity.mean()), "median_popularity": float(np.median(popularity)),
            "head_share": float(head[items].mean())}


class Evaluation(NamedTuple):
    report: dict[str, Any]  # the means, coverage and breakdowns below
    per_user: pd.DataFrame  # user_id, train_interactions, recall@K and ndcg@K per evaluated user (for paired tests)


def evaluate(scorer: Scorer, known: UserItems, targets: UserItems, train_counts_users: np.ndarray,
             train_counts_items: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, Any]:
    """Full-ranking metrics of ``scorer`` for every user with a target; ``known`` items are masked."""
    return evaluate_users(scorer, known, targets, train_counts_users, train_counts_items, ks).report


def evaluate_users(scorer: Scorer, known: UserItems, targets: UserItems, train_counts_users: np.ndarray,
                   train_counts_items: np.ndarray, ks: tuple[int, ...] = KS, max_users: int = 0, seed: int = 0
                   ) -> Evaluation:
    """``evaluate``'s report and the per-user metrics it averages. With ``max_users``, a seeded sample of the users
    is ranked; the report then says how many users it was drawn from and gives each mean's 95 % interval
    (``<metric>_ci95``: the half-width)."""
    if max(ks) > targets.n_items:
        raise ValueError(f"cannot rank the top {max(ks)} of {targets.n_items} items; use smaller K")
    population = users_with_targets(targets)
    users = sample_users(population, max_users, seed)
    ranked = top_k(scorer, users, known, max(ks))
    per_user = ranking_metrics(ranked, targets, users, ks)
    report: dict[str, Any] = {name: float(values.mean()) for name, values in per_user.items()}
    report["users"] = int(len(users))
    if len(users) < len(population):
        report["sampled_from"] = len(population)
        report |= {f"{name}_ci95": confidence_half_width(values, len(population))
                   for name, values in per_user.items()}
    for k in ks:
        report[f"coverage@{k}"] = float(len(np.unique(ranked[:, :k])) / targets.n_items)
    # Users by how much they interacted in train: group 0 holds the sparsest fifth.
    activity = quintiles(train_counts_users[users])
    report["by_user_activity"] = [
        {"group": g, "users": int((activity == g).sum()),
         "max_train_interactions": int(train_counts_users[users][activity == g].max()),
         **{f"recall@{k}": float(per_user[f"recall@{k}"][activity == g].mean()) for k in ks},
         **{f"ndcg@{k}": float(per_user[f"ndcg@{k}"][activity == g].mean()) for k in ks}}
        for g in range(N_GROUPS)]
    # Test targets by their item's train popularity: the share found in the top 20, per group (micro-average).
    target_rows, target_items = targets.pairs_of(users)
    hit = (ranked[target_rows, :20] == target_items[:, None]).any(1)
    popularity = quintiles(train_counts_items)[target_items]
    report["by_item_popularity"] = [
        {"group": g, "targets": int((popularity == g).sum()),
         "recall@20": float(hit[popularity == g].mean()) if (popularity == g).any() else 0.0}
        for g in range(N_GROUPS)]
    per_user_frame = pd.DataFrame({"user_id": users.astype(np.int64),
                                   "train_interactions": train_counts_users[users].astype(np.int64),
                                   **{name: per_user[name] for name in per_user if not name.startswith("hr@")}})
    return Evaluation(report, per_user_frame)
