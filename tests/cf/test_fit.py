"""Smoke runs of every variant (two epochs) and the structural differences between them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dqrec.cf.fit import VARIANTS, FitConfig, Sids, fit_cf
from dqrec.cf.model import CFConfig, Loss, TwoTowerCF


@pytest.fixture(scope="module")
def toy() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, Sids]:
    """Two taste groups of users and items; SIDs that tell the groups apart at level 1."""
    rng = np.random.default_rng(0)
    n_users, n_items = 120, 80
    rows = []
    for user in range(n_users):
        group = user % 2
        liked = rng.choice(np.arange(group, n_items, 2), size=12, replace=False)
        rows += [(user, int(item), t) for t, item in enumerate(liked)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(rating=np.nan)
    last = frame.groupby("user_id")["timestamp"].transform("max")
    train, valid = frame[frame["timestamp"] < last], frame[frame["timestamp"] == last]
    users = pd.DataFrame({"user_id": np.arange(n_users), "raw_id": np.arange(n_users).astype(str)})
    items = pd.DataFrame({"item_id": np.arange(n_items), "raw_id": np.arange(n_items).astype(str),
                          "genre": [[1 + i % 2] for i in range(n_items)]})
    codes = lambda n: np.stack([np.arange(n) % 2, rng.integers(0, 4, n), rng.integers(0, 4, n)], axis=1)  # noqa: E731
    return train, valid, users, items, Sids(codes(n_users), codes(n_items), 4, 4)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_trains_and_selects_an_epoch_on_validation(toy, variant: str, tmp_path: Path) -> None:
    train, valid, users, items, sids = toy
    features, linkage = VARIANTS[variant]
    config = FitConfig(model=CFConfig(dim=16, sid_features=features, linkage=linkage, n_negatives=32),
                       epochs=2, patience=2, batch_size=256, progress=False)
    result = fit_cf(train, valid, users, items, sids, config, checkpoint=tmp_path / "model.ckpt")

    assert len(result.validation_curve) == 2 and np.isfinite(result.validation_curve).all()
    assert result.best_epoch == int(np.argmax(result.validation_curve)) + 1
    scores = result.model.scores(torch.arange(5))
    assert scores.shape == (5, 80) and torch.isfinite(scores).all()
    reloaded = TwoTowerCF.load_from_checkpoint(tmp_path / "model.ckpt")
    assert set(reloaded.state_dict()) == set(result.model.state_dict())


def test_only_the_feature_variant_has_sid_embeddings(toy) -> None:
    _, _, users, items, sids = toy
    sizes = {}
    for variant, (features, linkage) in VARIANTS.items():
        model = TwoTowerCF(len(users), len(items), {}, {"genre": 3}, 3, 4, 4,
                           CFConfig(dim=16, sid_features=features, linkage=linkage))
        sizes[variant] = sum(p.numel() for p in model.parameters())

    assert sizes["feature"] - sizes["base"] == 2 * 3 * 4 * 16  # users and items: L tables of J codes
    assert sizes["linkage"] == sizes["base"]  # linkage reuses the id embeddings


@pytest.mark.parametrize("towers", [("user",), ("item",)])
def test_feature_towers_choose_which_tower_gets_sid_embeddings(toy, towers: tuple[str, ...], tmp_path: Path
                                                               ) -> None:
    train, valid, users, items, sids = toy
    config = FitConfig(model=CFConfig(dim=16, sid_features=True, feature_towers=towers, n_negatives=32),
                       epochs=1, patience=1, batch_size=256, progress=False)
    model = fit_cf(train, valid, users, items, sids, config, checkpoint=tmp_path / "model.ckpt").model

    assert (model.user_sids is not None, model.item_sids is not None) == ("user" in towers, "item" in towers)
    reloaded = TwoTowerCF.load_from_checkpoint(tmp_path / "model.ckpt")
    assert reloaded.config.feature_towers == towers and set(reloaded.state_dict()) == set(model.state_dict())


@pytest.mark.parametrize("towers", [(), ("users",)])
def test_unknown_feature_towers_are_refused(towers: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="feature_towers: expected one or both of"):
        CFConfig(feature_towers=towers)


def test_sid_variants_refuse_to_run_without_sids(toy) -> None:
    train, valid, users, items, _ = toy
    with pytest.raises(ValueError, match="need semantic IDs"):
        fit_cf(train, valid, users, items, None, FitConfig(model=CFConfig(linkage=True), epochs=1, progress=False))


@pytest.mark.parametrize("options", [{"loss": Loss.CCL}, {"in_batch_negatives": True}, {"item_bias": True},
                                     {"in_batch_negatives": True, "item_bias": True}])
def test_every_loss_option_trains(toy, options: dict) -> None:
    train, valid, users, items, sids = toy
    config = FitConfig(model=CFConfig(dim=16, n_negatives=32, **options), epochs=2, patience=2, batch_size=256,
                       progress=False)
    result = fit_cf(train, valid, users, items, sids, config)

    assert np.isfinite(result.validation_curve).all()
    if options.get("item_bias"):  # the bias learnt something, and ranking uses it
        assert result.model.item_bias.weight.abs().max() > 0
        plain = result.model.user_vectors(torch.arange(3)) @ result.model.item_vectors(torch.arange(80)).T
        assert not torch.allclose(result.model.scores(torch.arange(3)), plain)


def test_refit_trains_on_train_and_validation_for_the_selected_epochs(toy) -> None:
    train, valid, users, items, sids = toy
    config = FitConfig(model=CFConfig(dim=16, n_negatives=32), epochs=3, patience=3, batch_size=256,
                       progress=False, refit=True)
    result = fit_cf(train, valid, users, items, sids, config)
    again = fit_cf(train, valid, users, items, sids, config)

    assert result.trained_interactions == len(train) * 3 + (len(train) + len(valid)) * result.best_epoch
    # The refit model's user histories hold each user's validation item, which selection never saw.
    last = valid.set_index("user_id")["item_id"]
    histories = result.model.histories
    assert all(bool((histories[user] == item + 1).any()) for user, item in last.items())
    for name, weights in result.model.state_dict().items():  # seeded: the refit is reproducible
        assert torch.equal(weights, again.model.state_dict()[name]), name


def test_user_dropout_is_random_in_training_only(toy) -> None:
    _, _, users, items, _ = toy
    model = TwoTowerCF(len(users), len(items), {}, {"genre": 3}, 1, 1, 1, CFConfig(dim=16, dropout=0.5))
    model.attach(torch.zeros(len(users), 1, dtype=torch.long), {}, {"genre": torch.ones(len(items), 1,
                                                                                           dtype=torch.long)})
    batch = torch.arange(10)
    model.train()
    assert not torch.equal(model.user_vectors(batch), model.user_vectors(batch))
    model.eval()
    assert torch.equal(model.user_vectors(batch), model.user_vectors(batch))


def test_the_audience_aggregate_leaves_out_the_training_pair_own_user(toy) -> None:
    train, valid, users, items, sids = toy
    config = FitConfig(model=CFConfig(dim=16, n_negatives=32, audience_weight=0.5), epochs=2, patience=2,
                       batch_size=256, progress=False)
    model = fit_cf(train, valid, users, items, sids, config).model
    item = torch.tensor([int(train["item_id"].iloc[0])])
    audience = model.audiences[item][0]
    audience = audience[audience > 0] - 1  # (n,) user ids
    assert len(audience) >= 2
    one = audience[:1]
    # Masking a user of the item changes its vector; masking a user outside its audience does not.
    assert not torch.allclose(model.item_vectors(item, masked_users=one), model.item_vectors(item))
    outsider = torch.tensor([next(u for u in range(len(users)) if u not in set(audience.tolist()))])
    assert torch.equal(model.item_vectors(item, masked_users=outsider), model.item_vectors(item))
