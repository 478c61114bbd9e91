"""The graph view: the normalised interaction matrix, its low-pass rows, and what they keep and leave out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dqrec.represent.graph import graph_view, normalised_interactions


def two_communities(n_users: int = 40, n_items: int = 30, bridges: int = 3, seed: int = 0) -> pd.DataFrame:
    """Users 0..n/2-1 mostly take items 0..m/2-1, the others the rest; a few bridging pairs keep it connected."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        side = user < n_users // 2
        pool = np.arange(n_items // 2) if side else np.arange(n_items // 2, n_items)
        rows += [(user, int(item)) for item in rng.choice(pool, size=6, replace=False)]
    rows += [(user, n_items - 1 - user) for user in range(bridges)]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def test_the_matrix_divides_each_interaction_by_the_root_of_both_degrees_and_counts_repeats_once() -> None:
    train = pd.DataFrame({"user_id": [0, 0, 1, 0], "item_id": [0, 1, 1, 1]})  # (0, 1) twice: one interaction
    matrix = normalised_interactions(train, n_users=3, n_items=2).to_dense().numpy()

    # Degrees: user 0 has 2 items, user 1 one, user 2 none; item 0 has 1 user, item 1 two.
    np.testing.assert_allclose(matrix, [[1 / np.sqrt(2 * 1), 1 / np.sqrt(2 * 2)], [0.0, 1 / np.sqrt(1 * 2)],
                                        [0.0, 0.0]])


def test_members_of_one_community_are_nearer_each_other_than_the_other_community() -> None:
    train = two_communities()
    view = graph_view(train, 40, 30, dim=2, seed=0)

    users = view.users @ view.users.T  # (U, U) cosine: unit rows
    same = np.equal.outer(np.arange(40) < 20, np.arange(40) < 20)
    assert users[same].mean() > 0.5 > users[~same].mean()
    items = view.items @ view.items.T
    same_items = np.equal.outer(np.arange(30) < 15, np.arange(30) < 15)
    assert items[same_items].mean() > items[~same_items].mean()


def test_the_degree_pair_is_left_out_and_the_rows_are_unit_or_zero() -> None:
    train = two_communities()
    view = graph_view(train, 41, 30, dim=4, seed=0)  # user 40 has no training interaction

    # On a connected graph R̃'s largest singular value is 1, with the roots of the degrees as its vectors.
    assert view.singular_values[0] < 1 - 1e-3
    assert np.all(np.diff(view.singular_values) <= 1e-6)
    norms = np.linalg.norm(view.users, axis=1)
    np.testing.assert_allclose(norms[:40], 1.0, rtol=1e-5)
    assert norms[40] == 0.0
    np.testing.assert_allclose(np.linalg.norm(view.items, axis=1), 1.0, rtol=1e-5)


def test_reruns_give_identical_views_and_leave_the_global_random_stream_alone() -> None:
    train = two_communities()
    torch.manual_seed(7)
    before = torch.rand(1)
    torch.manual_seed(7)
    first = graph_view(train, 40, 30, dim=4, seed=3)
    after = torch.rand(1)
    again = graph_view(train, 40, 30, dim=4, seed=3)

    np.testing.assert_array_equal(first.users, again.users)
    np.testing.assert_array_equal(first.items, again.items)
    assert torch.equal(before, after)


def test_a_width_the_graph_cannot_give_is_refused_by_the_param_name() -> None:
    with pytest.raises(ValueError, match="pretrain.graph_dim 30 exceeds"):
        graph_view(two_communities(), 40, 30, dim=30, seed=0)
