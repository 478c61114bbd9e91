"""Serving: the approximate index ranks as the model does, known items never come back, the export is whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dqrec.cf import serving
from dqrec.cf.model import CFConfig, TwoTowerCF
from dqrec.cf.serving import (
    IndexConfig,
    IndexKind,
    build_index,
    export_top_items,
    item_matrix,
    recall_against_exact,
    search_index,
    top_items,
    user_matrix,
)
from dqrec.evaluate.ranking import UserItems

N_USERS, N_ITEMS = 50, 400


@pytest.fixture()
def model() -> TwoTowerCF:
    torch.manual_seed(0)
    model = TwoTowerCF(N_USERS, N_ITEMS, {}, {}, 1, 1, 1, CFConfig(dim=16)).eval()
    nn_bias = model.item_bias
    assert nn_bias is not None
    torch.nn.init.normal_(nn_bias.weight, std=1.0)  # a bias that matters to the order
    model.attach(torch.randint(1, N_ITEMS + 1, (N_USERS, 5)), {}, {})
    return model


@pytest.fixture()
def known() -> UserItems:
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(N_USERS), rng.integers(0, 30, N_USERS))
    return UserItems.from_pairs(users, rng.integers(0, N_ITEMS, len(users)), N_USERS, N_ITEMS)


def test_the_augmented_inner_product_is_the_models_score(model: TwoTowerCF) -> None:
    users = np.arange(N_USERS)
    product = user_matrix(model, users) @ item_matrix(model).T  # (U, I)

    np.testing.assert_allclose(product, model.scores(torch.from_numpy(users)).numpy(), atol=1e-5)


def test_an_ivf_index_searching_every_cell_ranks_exactly(model: TwoTowerCF, known: UserItems) -> None:
    users = np.arange(N_USERS)
    exact = top_items(model, users, known, 20)
    approximate = top_items(model, users, known, 20, IndexConfig(IndexKind.IVF, n_lists=4, n_probe=4))

    np.testing.assert_array_equal(approximate.items, exact.items)
    np.testing.assert_allclose(approximate.scores, exact.scores, atol=1e-5)
    assert recall_against_exact(approximate.items, exact.items) == 1.0


def test_hnsw_with_a_wide_search_finds_the_exact_top_items(model: TwoTowerCF, known: UserItems) -> None:
    users = np.arange(N_USERS)
    exact = top_items(model, users, known, 10)
    approximate = top_items(model, users, known, 10, IndexConfig(IndexKind.HNSW, ef_search=N_ITEMS))

    assert recall_against_exact(approximate.items, exact.items) == 1.0


def test_a_narrow_search_is_approximate_and_its_recall_says_so(model: TwoTowerCF, known: UserItems) -> None:
    users = np.arange(N_USERS)
    exact = top_items(model, users, known, 20)
    narrow = top_items(model, users, known, 20, IndexConfig(IndexKind.IVF, n_lists=40, n_probe=1))

    assert 0 < recall_against_exact(narrow.items, exact.items) < 1


@pytest.mark.parametrize("kind", list(IndexKind))
def test_known_items_never_come_back_and_a_user_who_knows_almost_all_gets_what_is_left(
        model: TwoTowerCF, known: UserItems, kind: IndexKind) -> None:
    # User 0 knows every item but three; the others keep their random histories.
    users, items = known.pairs_of(np.arange(1, N_USERS))
    rest = np.setdiff1d(np.arange(N_ITEMS), [5, 17, 301])
    known = UserItems.from_pairs(np.r_[np.zeros(len(rest), dtype=np.int64), users + 1], np.r_[rest, items],
                                 N_USERS, N_ITEMS)
    ranked = top_items(model, np.arange(N_USERS), known, 10, IndexConfig(kind, n_lists=4, n_probe=4))

    assert sorted(ranked.items[0][ranked.items[0] >= 0]) == [5, 17, 301]
    assert (ranked.items[0, 3:] == -1).all() and np.isneginf(ranked.scores[0, 3:]).all()
    assert not known.contains(np.arange(N_USERS), np.maximum(ranked.items, 0))[ranked.items >= 0].any()
    assert (np.diff(ranked.scores[1:], axis=1) <= 1e-6).all()  # best first


def test_build_index_refuses_the_exact_kind() -> None:
    with pytest.raises(ValueError, match="exact"):
        build_index(np.zeros((4, 3), dtype=np.float32), IndexConfig(IndexKind.EXACT))
    with pytest.raises(ValueError, match="n_probe"):
        IndexConfig(IndexKind.IVF, n_probe=0)


def test_the_export_holds_every_users_top_items_by_raw_ids(model: TwoTowerCF, known: UserItems,
                                                           tmp_path: Path) -> None:
    user_ids, item_ids = np.array([f"u{i}" for i in range(N_USERS)]), np.arange(N_ITEMS) + 1000
    path = tmp_path / "top.parquet"
    rows = export_top_items(model, known, 7, path, user_ids, item_ids, chunk_users=16)

    table = pd.read_parquet(path)
    exact = top_items(model, np.arange(N_USERS), known, 7)
    assert rows == len(table) == N_USERS * 7
    assert table["user"].tolist() == np.repeat(user_ids, 7).tolist()
    assert table["rank"].tolist() == np.tile(np.arange(1, 8), N_USERS).tolist()
    assert table["item"].tolist() == item_ids[exact.items.ravel()].astype(str).tolist()


def test_an_export_that_fails_midway_leaves_the_previous_file(model: TwoTowerCF, known: UserItems,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "top.parquet"
    path.write_bytes(b"previous")
    calls = []

    def failing(*args: object, **kwargs: object) -> serving.Ranked:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return top_items(*args, **kwargs)

    monkeypatch.setattr(serving, "top_items", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        export_top_items(model, known, 5, path, np.arange(N_USERS), np.arange(N_ITEMS), chunk_users=16)

    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["top.parquet"]


def test_search_index_fetches_past_a_long_history(model: TwoTowerCF) -> None:
    # One user knows the 300 items the model likes best: the index must look past all of them.
    best = np.argsort(-model.scores(torch.tensor([0]))[0].numpy())[:300]
    known = UserItems.from_pairs(np.zeros(300, dtype=np.int64), best, N_USERS, N_ITEMS)
    index = build_index(item_matrix(model), IndexConfig(IndexKind.IVF, n_lists=1))
    ranked = search_index(index, model, np.array([0]), known, 5)

    assert (ranked.items >= 0).all() and not np.isin(ranked.items, best).any()
