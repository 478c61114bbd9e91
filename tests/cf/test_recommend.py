"""Recommendations: known items never come back, the best come first, unknown users are named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dqrec.cf.model import CFConfig, TwoTowerCF
from dqrec.cf.recommend import UnknownUsers, dense_user_ids, recommend
from dqrec.evaluate.ranking import UserItems

N_USERS, N_ITEMS = 6, 9


@pytest.fixture()
def model() -> TwoTowerCF:
    torch.manual_seed(0)
    model = TwoTowerCF(N_USERS, N_ITEMS, {}, {}, 1, 1, 1, CFConfig(dim=8)).eval()
    model.attach(torch.randint(1, N_ITEMS + 1, (N_USERS, 3)), {}, {})
    return model


def test_recommendations_skip_known_items_and_come_best_first(model: TwoTowerCF) -> None:
    known = UserItems.from_pairs(np.array([0, 0, 0, 2]), np.array([1, 4, 7, 0]), N_USERS, N_ITEMS)
    table = recommend(model, np.array([0, 2]), known, k=4)

    for user, rows in table.groupby("user_id"):
        assert not known.contains(np.array([user]), rows["item_id"].to_numpy()[None, :]).any()
        assert rows["rank"].tolist() == [1, 2, 3, 4]
        assert (np.diff(rows["score"].to_numpy()) <= 0).all()
        all_scores = model.scores(torch.tensor([user]))[0].numpy()
        unknown = np.setdiff1d(np.arange(N_ITEMS), known.indices[known.indptr[user]:known.indptr[user + 1]])
        assert rows["score"].iloc[0] == pytest.approx(all_scores[unknown].max())


def test_a_user_who_knows_almost_everything_gets_only_what_is_left(model: TwoTowerCF) -> None:
    known = UserItems.from_pairs(np.zeros(N_ITEMS - 2, dtype=int), np.arange(N_ITEMS - 2), N_USERS, N_ITEMS)
    table = recommend(model, np.array([0]), known, k=5)

    assert sorted(table["item_id"]) == [N_ITEMS - 2, N_ITEMS - 1]


def test_users_are_looked_up_by_the_datasets_own_ids() -> None:
    users = pd.DataFrame({"user_id": [0, 1, 2], "raw_id": ["17", "3", "u9"]})

    assert dense_user_ids(["u9", "17"], users).tolist() == [2, 0]
    with pytest.raises(UnknownUsers, match=r"unknown user ids '4', 'x'.*3 users, e\.g\. 17, 3, u9"):
        dense_user_ids(["3", "4", "x"], users)
