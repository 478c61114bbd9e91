"""A short pre-training run on real ml-100k data: shapes, unit norm, reproducibility, no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dqrec.data.ingest import IngestConfig, ingest
from dqrec.data.split import SplitMethod, assign_splits
from dqrec.represent.encoder import EncoderConfig
from dqrec.represent.pretrain import PretrainConfig, pretrain
from tests.conftest import shared_dataset

SMOKE = PretrainConfig(encoder=EncoderConfig(dim=16, n_negatives=64), epochs=1, batch_size=4096, progress=False)


@pytest.fixture(scope="module")
def ml100k() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    dataset = ingest(shared_dataset("ml-100k"), IngestConfig("ml-100k"))
    labels = assign_splits(dataset.interactions, SplitMethod.RATIO)
    interactions = dataset.interactions
    return interactions[labels == "train"], interactions[labels == "valid"], dataset.users, dataset.items


def test_representations_have_one_unit_row_per_entity(ml100k) -> None:
    result = pretrain(*ml100k, SMOKE)

    assert result.users.shape == (943, 16) and result.items.shape == (1682, 16)
    np.testing.assert_allclose(np.linalg.norm(result.users, axis=1), 1.0, rtol=1e-5)
    assert result.best_epoch == 1 and len(result.history["val_loss"]) == 1


def test_same_seed_same_representations(ml100k) -> None:
    first = pretrain(*ml100k, SMOKE)
    again = pretrain(*ml100k, SMOKE)

    np.testing.assert_array_equal(first.users, again.users)
    np.testing.assert_array_equal(first.items, again.items)


def test_validation_interactions_do_not_shape_the_representations(ml100k) -> None:
    train, valid, users, items = ml100k
    with_valid = pretrain(train, valid, users, items, SMOKE)
    other_valid = pretrain(train, valid.sample(frac=0.5, random_state=0), users, items, SMOKE)

    # Validation only scores epochs; with one epoch nothing is selected, so Z must not move.
    np.testing.assert_array_equal(with_valid.users, other_valid.users)


def test_training_lowers_the_validation_loss(ml100k) -> None:
    config = PretrainConfig(encoder=EncoderConfig(dim=32, n_negatives=256), epochs=3, patience=3,
                            progress=False)
    result = pretrain(*ml100k, config)

    assert result.history["val_loss"][-1] < result.history["val_loss"][0]


def test_a_text_view_widens_z_beside_the_behaviour_view(ml100k) -> None:
    # ml-100k's items have titles: enough text for a (weak) view.
    result = pretrain(*ml100k, PretrainConfig(encoder=SMOKE.encoder, epochs=1, batch_size=4096, progress=False,
                                              text_dim=8, text_weight=0.5))
    behaviour = pretrain(*ml100k, SMOKE)

    assert result.items.shape == (1682, 16 + 8) and result.text_words > 100
    np.testing.assert_allclose(result.items[:, :16], behaviour.items, rtol=1e-5, atol=1e-6)
    text_norms = np.linalg.norm(result.items[:, 16:], axis=1)
    weighted, empty = np.isclose(text_norms, 0.5, rtol=1e-4), np.isclose(text_norms, 0.0)
    assert (weighted | empty).all() and weighted.mean() > 0.5  # zero only where no title word is shared


def test_sparse_embeddings_pretrain_too_and_lower_the_validation_loss(ml100k) -> None:
    config = PretrainConfig(encoder=EncoderConfig(dim=32, n_negatives=256, embedding_gradients="sparse"), epochs=3,
                            patience=3, progress=False)
    result = pretrain(*ml100k, config)

    assert np.isfinite(result.users).all() and np.isfinite(result.items).all()
    assert result.history["val_loss"][-1] < result.history["val_loss"][0]


def test_a_gru_history_encoder_learns_and_repeats_itself(ml100k) -> None:
    config = PretrainConfig(encoder=EncoderConfig(dim=16, n_negatives=128, history_encoder="gru"), epochs=2,
                            patience=2, batch_size=4096, progress=False)
    first, again = pretrain(*ml100k, config), pretrain(*ml100k, config)

    assert first.users.shape == (943, 16) and np.isfinite(first.users).all()
    assert first.history["val_loss"][-1] < first.history["val_loss"][0]
    np.testing.assert_array_equal(first.users, again.users)
    np.testing.assert_array_equal(first.items, again.items)


def test_the_gru_reads_order_where_the_mean_cannot(ml100k) -> None:
    train, valid, users, items = ml100k
    # Each user's 30 oldest items: within max_history, so reversing their timestamps keeps every bag the same
    # and changes every sequence.
    train = train.sort_values(["user_id", "timestamp", "item_id"]).groupby("user_id").head(30)
    reversed_time = train.assign(timestamp=-train["timestamp"])
    for encoder, moves in (("mean", False), ("gru", True)):
        config = PretrainConfig(encoder=EncoderConfig(dim=16, n_negatives=64, history_encoder=encoder), epochs=1,
                                batch_size=4096, progress=False, max_history=30)
        forward, backward = (pretrain(frame, valid, users, items, config).users for frame in (train, reversed_time))
        assert (not np.allclose(forward, backward, atol=1e-5)) is moves, encoder


def test_a_graph_view_widens_z_after_the_text_view(ml100k) -> None:
    config = PretrainConfig(encoder=SMOKE.encoder, epochs=1, batch_size=4096, progress=False, text_dim=8,
                            text_weight=0.5, graph_dim=8, graph_weight=0.25)
    result = pretrain(*ml100k, config)
    text_only = pretrain(*ml100k, PretrainConfig(encoder=SMOKE.encoder, epochs=1, batch_size=4096, progress=False,
                                                 text_dim=8, text_weight=0.5))

    assert result.items.shape == (1682, 16 + 8 + 8) and result.users.shape == (943, 16 + 8 + 8)
    np.testing.assert_array_equal(result.items[:, :24], text_only.items)
    # A graph row is a unit row times the weight, or zero for an entity without a training interaction.
    train = ml100k[0]
    for rows, known in ((result.users[:, 24:], np.bincount(train["user_id"], minlength=943) > 0),
                        (result.items[:, 24:], np.bincount(train["item_id"], minlength=1682) > 0)):
        norms = np.linalg.norm(rows, axis=1)
        np.testing.assert_allclose(norms[known], 0.25, rtol=1e-4)
        assert not rows[~known].any()
