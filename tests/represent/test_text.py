"""The text view: items that read alike lie close, users sit at their items' mean, reruns are identical."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dqrec.represent.text import text_view, tfidf, with_views

TEXTS = [
    "capacitor relay hard start kit", "capacitor relay kit for compressors", "start capacitor relay",
    "stainless steel staples narrow crown", "steel staples for staple guns", "narrow crown staples steel",
    None,
]


def catalogue() -> tuple[pd.DataFrame, pd.DataFrame]:
    items = pd.DataFrame({"item_id": range(len(TEXTS)), "title": TEXTS,
                          "description": ["electrical"] * 3 + ["fasteners"] * 3 + [None]})
    train = pd.DataFrame({"user_id": [0, 0, 1, 1, 2], "item_id": [0, 1, 3, 4, 6]})
    return items, train


def test_items_that_read_alike_are_nearer_than_items_that_do_not() -> None:
    items, train = catalogue()
    view = text_view(items, train, n_users=3, dim=2, seed=0)
    similarity = view.items @ view.items.T

    within = [similarity[a, b] for group in ((0, 1, 2), (3, 4, 5)) for a in group for b in group if a < b]
    across = [similarity[a, b] for a in (0, 1, 2) for b in (3, 4, 5)]
    assert min(within) > max(across)
    np.testing.assert_allclose(np.linalg.norm(view.items[:6], axis=1), 1.0, rtol=1e-5)
    assert not view.items[6].any() and view.items_with_text == 6  # no text: a zero row, not noise


def test_a_user_is_the_unit_mean_of_their_training_items_and_reruns_are_identical() -> None:
    items, train = catalogue()
    view = text_view(items, train, n_users=3, dim=2, seed=0)
    again = text_view(items, train, n_users=3, dim=2, seed=0)

    mean = view.items[[0, 1]].mean(0)
    np.testing.assert_allclose(view.users[0], mean / np.linalg.norm(mean), rtol=1e-5)
    assert np.linalg.norm(view.users[2]) == pytest.approx(0.0)  # only a text-less item: zero
    np.testing.assert_array_equal(view.items, again.items)
    np.testing.assert_array_equal(view.users, again.users)


def test_words_in_one_item_or_in_most_items_are_left_out() -> None:
    matrix, has_text = tfidf(["alpha beta", "alpha gamma", "delta gamma beta", "alpha"])

    # alpha is in 3 of 4 items (> half), delta in one: only beta and gamma are kept.
    assert matrix.shape == (4, 2)
    assert has_text.tolist() == [True, True, True, False]


def test_a_dataset_without_item_text_is_refused_by_the_param_name() -> None:
    items = pd.DataFrame({"item_id": [0, 1], "genre": [[1], [2]]})
    with pytest.raises(ValueError, match="pretrain.text_dim"):
        text_view(items, pd.DataFrame({"user_id": [0], "item_id": [1]}), 1, 2, seed=0)


def test_the_joint_representation_puts_unit_behaviour_rows_beside_weighted_text_rows() -> None:
    z = np.array([[3.0, 4.0], [0.0, 2.0]], dtype=np.float32)
    text = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    joint = with_views(z, [(text, 0.5)])

    np.testing.assert_allclose(joint, [[0.6, 0.8, 0.5, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.5]])
    assert joint.dtype == np.float32
