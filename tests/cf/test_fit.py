"""Smoke runs of every variant (two epochs) and the structural differences between them."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from dqrec.cf import SID_ONLY_KEYS
from dqrec.cf.fit import (
    SID_PARAMETERS,
    VARIANTS,
    FitConfig,
    PlateauDecay,
    ReplayRates,
    TrainConfig,
    fit_cf,
    seeded_model,
    start_from,
    validation_users,
    warm_start_from,
)
from dqrec.cf.model import CFConfig, Loss, SidTower, TwoTowerCF, drop_entries, shrinkage_weights, vector_dropout


def assert_same_weights(first: torch.nn.Module, second: torch.nn.Module) -> None:
    for name, weights in first.state_dict().items():
        assert torch.equal(weights, second.state_dict()[name]), name


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


def test_the_baseline_trains_the_same_under_any_value_of_the_sid_only_keys(toy) -> None:
    train, valid, users, items, sids = toy
    config = FitConfig(model=CFConfig(dim=16, n_negatives=32), epochs=2, patience=2, batch_size=256, progress=False)
    others = {"feature_towers": ("item",), "sid_dropout": 0.1, "sid_gate": True, "sid_shrinkage": 5.0,
              "history_sids": True, "warm_start": True, "freeze_base": True,
              "neighbour_weight": 0.9, "linkage_loss_weight": 0.5, "min_shared": 1, "max_neighbours": 3}
    assert set(others) == set(SID_ONLY_KEYS)
    model_keys = {key: value for key, value in others.items() if hasattr(config.model, key)}
    changed = replace(config, model=replace(config.model, **model_keys),
                      **{key: value for key, value in others.items() if key not in model_keys})

    reference, moved = (fit_cf(train, valid, users, items, sids, c) for c in (config, changed))

    assert reference.validation_curve == moved.validation_curve
    assert_same_weights(reference.model, moved.model)


def test_a_variant_trains_the_same_whichever_variants_trained_before_it_in_the_process(toy) -> None:
    train, valid, users, items, sids = toy
    fit = FitConfig(model=CFConfig(dim=16, n_negatives=32), epochs=2, patience=2, batch_size=256, progress=False)
    config = TrainConfig(variants=("linkage", "full"), fit=fit)
    alone = fit_cf(train, valid, users, items, sids, config.for_variant("full"))
    fit_cf(train, valid, users, items, sids, config.for_variant("linkage"))
    after = fit_cf(train, valid, users, items, sids, config.for_variant("full"))

    assert alone.validation_curve == after.validation_curve
    assert_same_weights(alone.model, after.model)


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


def test_sid_dropout_drops_whole_levels_while_training_only() -> None:
    torch.manual_seed(0)
    tower = SidTower(n_levels=4, n_codes=3, dim=8, dropout=0.5)
    codes = torch.randint(0, 3, (2000, 4))
    per_level = torch.stack([table(codes[:, level]) for level, table in enumerate(tower.levels)], dim=1)  # (B, L, D)

    assert torch.allclose(tower.eval()(codes), per_level.sum(1))  # no dropout when ranking
    dropped = tower.train()(codes)  # (B, D)
    # Each row is 2 x the sum of the levels it kept: solve for the kept-level mask by trying all 16 of them.
    masks = torch.tensor([[(m >> level) & 1 for level in range(4)] for m in range(16)], dtype=torch.float)  # (16, L)
    candidates = 2 * torch.einsum("ml,bld->bmd", masks, per_level)  # (B, 16, D)
    errors = (candidates - dropped.unsqueeze(1)).abs().amax(-1)  # (B, 16)
    assert (errors.min(1).values < 1e-5).all()  # every row is one such mask
    kept = masks[errors.argmin(1)]  # (B, L)
    assert 0.45 < kept.mean() < 0.55  # about half of the levels survive


def test_gated_sids_start_as_the_baseline_and_open_where_training_finds_them_useful(toy) -> None:
    train, valid, users, items, sids = toy
    gated = FitConfig(model=CFConfig(dim=16, n_negatives=32, sid_features=True, linkage=True, sid_gate=True),
                      epochs=3, patience=3, batch_size=256, progress=False)
    base = replace(gated, model=replace(gated.model, sid_features=False, linkage=False))
    full_model, base_model = seeded_model(train, users, items, sids, gated), seeded_model(train, users, items, None,
                                                                                          base)
    # The same seed draws the ID tables first, so at initialisation the gated towers are the baseline's.
    full_model.eval(), base_model.eval()
    everyone = torch.arange(len(users))
    assert torch.allclose(full_model.user_vectors(everyone), base_model.user_vectors(everyone), atol=1e-6)

    result = fit_cf(train, valid, users, items, sids, gated)
    # The toy SIDs tell the taste groups apart at level 1: its gates open.
    assert result.model.user_sids.gates.abs()[0].item() > 0.01
    assert result.model.item_sids.gates.abs()[0].item() > 0.01
    assert result.model.neighbour_gates.abs().min().item() > 0.0


def test_shrinkage_weights_are_one_without_interactions_half_at_kappa_and_fall_with_activity() -> None:
    weights = shrinkage_weights(torch.tensor([0, 4, 12, 396]), kappa=4.0)  # (4, 1)

    assert weights.shape == (4, 1)
    assert torch.allclose(weights.squeeze(1), torch.tensor([1.0, 0.5, 0.25, 0.01]))


def test_sid_shrinkage_weighs_each_entity_sid_inputs_by_its_interactions_in_the_history(toy) -> None:
    train, _, users, items, sids = toy
    config = FitConfig(model=CFConfig(dim=16, n_negatives=32, sid_features=True, linkage=True, sid_shrinkage=3.0,
                                      neighbour_weight=0.5))
    model = seeded_model(train, users, items, sids, config).eval()
    user_counts = np.bincount(train["user_id"], minlength=len(users))
    assert torch.allclose(model.user_sid_weights.squeeze(1), torch.from_numpy(3.0 / (3.0 + user_counts)).float())

    everyone = torch.arange(len(items))
    with torch.no_grad():
        own = model.item_embedding(everyone + 1) + model.item_attributes(model.item_tokens)  # (I, D)
        codes = model.item_sids(model.item_codes_table)  # (I, D)
        neighbours = model._neighbour_term(model.item_embedding, model.item_neighbours, tower="item")  # (I, D)
        weights = torch.from_numpy(3.0 / (3.0 + np.bincount(train["item_id"], minlength=len(items)))).float()
        expected = F.normalize(own + weights.unsqueeze(1) * (codes + neighbours), dim=-1)
        assert torch.allclose(model.item_vectors(everyone), expected, atol=1e-6)
        # Off, every entity's SID inputs count in full.
        plain = seeded_model(train, users, items, sids, replace(config, model=replace(config.model, sid_shrinkage=0)))
        assert torch.allclose(plain.eval().item_vectors(everyone), F.normalize(own + codes + neighbours, dim=-1),
                              atol=1e-6)


def test_a_negative_sid_shrinkage_is_refused() -> None:
    with pytest.raises(ValueError, match="sid_shrinkage: expected κ >= 0"):
        CFConfig(sid_shrinkage=-1.0)


def test_history_sids_average_each_history_item_as_the_item_tower_sees_it_leaving_out_the_target(toy) -> None:
    train, _, users, items, sids = toy
    config = FitConfig(model=CFConfig(dim=16, n_negatives=32, sid_features=True, history_sids=True))
    model = seeded_model(train, users, items, sids, config).eval()
    everyone = torch.arange(len(users))
    targets = model.histories[:, 0] - 1  # (U,) each user's first history item, left out as a training target is
    with torch.no_grad():
        history = model.histories  # (U, H) item id + 1, 0 pads
        keep = ((history > 0) & (history != (targets + 1).unsqueeze(1))).float()  # (U, H)
        items_seen = model.item_embedding(history) + model.item_sids(  # (U·H, D) -> (U, H, D)
            model.item_codes_table[(history - 1).clamp(min=0)].flatten(0, 1)).unflatten(0, history.shape)
        behaviour = (keep.unsqueeze(-1) * items_seen).sum(1) / keep.sum(1, keepdim=True).clamp(min=1)  # (U, D)
        g = config.model.history_weight
        assert model.user_attributes(model.user_tokens) is None  # the toy's users have no attributes
        expected = ((1 - g) * model.user_embedding(everyone) + g * model.history_projection(behaviour)
                    + model.user_sids(model.user_codes_table))
        assert torch.allclose(model.user_vectors(everyone, masked_items=targets), F.normalize(expected, dim=-1),
                              atol=1e-6)
        # Off, the history is ids alone: the same model's user vectors move.
        model.config = replace(config.model, history_sids=False)
        assert not torch.allclose(model.user_vectors(everyone, masked_items=targets), F.normalize(expected, dim=-1),
                                  atol=1e-4)


def test_history_sids_without_the_item_sid_tower_are_refused() -> None:
    with pytest.raises(ValueError, match="history_sids: .*feature_towers must include item"):
        CFConfig(history_sids=True, feature_towers=("user",))


def test_vector_dropout_drops_whole_vectors_while_training_only() -> None:
    torch.manual_seed(0)
    vectors = torch.randn(1000, 4, 8)
    dropped = vector_dropout(vectors, 0.25, training=True)

    kept = (dropped != 0).all(-1)  # (B, L): a vector is dropped whole or kept whole
    assert ((dropped == 0).all(-1) | kept).all()
    assert torch.allclose(dropped[kept], vectors[kept] / 0.75)  # kept ones keep the expectation
    assert 0.70 < kept.float().mean() < 0.80
    assert vector_dropout(vectors, 0.25, training=False) is vectors


def test_history_dropout_turns_random_entries_into_padding_while_training_only() -> None:
    torch.manual_seed(0)
    history = torch.randint(1, 50, (1000, 20)).masked_fill(torch.rand(1000, 20) < 0.2, 0)  # (B, H), 0 pads
    dropped = drop_entries(history, 0.3, training=True)

    assert ((dropped == history) | (dropped == 0)).all()  # entries are kept or padded, never moved
    share_dropped = ((dropped == 0) & (history > 0)).sum() / (history > 0).sum()
    assert 0.27 < share_dropped < 0.33
    assert len({tuple(row.tolist()) for row in (dropped > 0)}) > 900  # each row draws its own subset
    assert drop_entries(history, 0.3, training=False) is history


def test_sid_dropout_drops_the_linkage_neighbour_mean_of_whole_rows() -> None:
    torch.manual_seed(0)
    n_users, n_items = 6, 300
    model = TwoTowerCF(n_users, n_items, {}, {}, 2, 4, 4, CFConfig(dim=8, linkage=True, sid_dropout=0.5,
                                                                     neighbour_weight=0.5))
    neighbours = torch.stack([(torch.arange(n_items) + 1) % n_items, torch.full((n_items,), -1)], dim=1)  # (I, 2)
    model.attach(torch.zeros(n_users, 1, dtype=torch.long), {}, {}, user_neighbours=torch.full((n_users, 1), -1),
                 item_neighbours=neighbours, user_codes=torch.zeros(n_users, 2, dtype=torch.long),
                 item_codes=torch.zeros(n_items, 2, dtype=torch.long))
    items = torch.arange(n_items)
    own, neighbour = model.item_embedding(items + 1), model.item_embedding(neighbours[:, 0] + 1)  # (I, D) each

    with torch.no_grad():
        assert torch.allclose(model.eval().item_vectors(items), F.normalize(own + 0.5 * neighbour, dim=-1))
        trained = model.train().item_vectors(items)  # (I, D)
    without, doubled = F.normalize(own, dim=-1), F.normalize(own + 2 * 0.5 * neighbour, dim=-1)
    is_without = torch.isclose(trained, without, atol=1e-6).all(-1)
    is_doubled = torch.isclose(trained, doubled, atol=1e-6).all(-1)
    assert (is_without ^ is_doubled).all() and 0.35 < is_without.float().mean() < 0.65


@pytest.mark.parametrize("name", ["sid_dropout", "history_dropout"])
@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_dropout_rates_must_be_probabilities_below_one(name: str, rate: float) -> None:
    with pytest.raises(ValueError, match=f"{name}: expected a probability in"):
        CFConfig(**{name: rate})


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


def test_refit_trains_on_train_and_validation_for_the_selected_epochs(toy, caplog) -> None:
    train, valid, users, items, sids = toy
    config = FitConfig(model=CFConfig(dim=16, n_negatives=32), epochs=3, patience=3, batch_size=256,
                       progress=False, refit=True)
    with caplog.at_level(logging.INFO, logger="dqrec.cf.fit"):
        result = fit_cf(train, valid, users, items, sids, config)
    messages = [record.getMessage() for record in caplog.records]  # this fit's only
    again = fit_cf(train, valid, users, items, sids, config)

    assert result.trained_interactions == len(train) * 3 + (len(train) + len(valid)) * result.best_epoch
    # With no validation to report, the refit says how far it is, epoch by epoch.
    refit_lines = [message for message in messages if message.startswith("refit epoch")]
    assert [line.split(":")[0] for line in refit_lines] == [
        f"refit epoch {e}/{result.best_epoch}" for e in range(1, result.best_epoch + 1)]
    # The refit model's user histories hold each user's validation item, which selection never saw.
    last = valid.set_index("user_id")["item_id"]
    histories = result.model.histories
    assert all(bool((histories[user] == item + 1).any()) for user, item in last.items())
    assert_same_weights(result.model, again.model)  # seeded: the refit is reproducible


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


def test_history_dropout_is_random_in_training_only(toy) -> None:
    _, _, users, items, _ = toy
    model = TwoTowerCF(len(users), len(items), {}, {}, 1, 1, 1, CFConfig(dim=16, history_weight=1.0,
                                                                         history_dropout=0.5))
    model.attach(torch.from_numpy(np.stack([np.arange(1, 12)] * len(users))), {}, {})  # (U, 11) items 0..10
    batch = torch.arange(10)
    model.train()
    assert not torch.equal(model.user_vectors(batch), model.user_vectors(batch))
    model.eval()
    assert torch.equal(model.user_vectors(batch), model.user_vectors(batch))


def test_bias_scale_weights_only_the_item_bias_in_the_scores(toy) -> None:
    _, _, users, items, _ = toy
    model = TwoTowerCF(len(users), len(items), {}, {}, 1, 1, 1, CFConfig(dim=16, item_bias=True, temperature=0.1))
    model.attach(torch.zeros(len(users), 1, dtype=torch.long), {}, {})
    torch.nn.init.normal_(model.item_bias.weight)
    model.eval()
    batch = torch.arange(10)
    cosine = model.scores(batch, bias_scale=0.0)
    bias = 0.1 * model.item_bias.weight.T  # (1, I): τ · b

    assert torch.allclose(cosine, model.user_vectors(batch) @ model.item_vectors(torch.arange(len(items))).T)
    assert torch.allclose(model.scores(batch), cosine + bias, atol=1e-6)
    assert torch.allclose(model.scores(batch, bias_scale=2.0), cosine + 2 * bias, atol=1e-6)


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


class _Run:
    """The parts of a Lightning trainer the learning-rate callbacks read."""

    def __init__(self, lr: float) -> None:
        self.optimizers = [torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)]
        self.callback_metrics: dict[str, torch.Tensor] = {}
        self.sanity_checking = False
        self.current_epoch = 0


def test_plateau_decay_lowers_the_rate_after_each_epoch_without_a_new_best() -> None:
    run, decay = _Run(lr=0.1), PlateauDecay("val", factor=0.5)
    for value in (0.1, 0.3, 0.2, 0.25, 0.4):
        decay.on_train_epoch_start(run, None)
        run.callback_metrics["val"] = torch.tensor(value)
        decay.on_validation_epoch_end(run, None)
    # Epochs 3 and 4 set no new best (0.2, 0.25 < 0.3): the rate halves after each.
    assert decay.rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.025])
    assert run.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.025)


def test_plateau_decay_with_patience_lets_a_lone_dip_pass_and_restarts_its_count_after_decaying() -> None:
    run, decay = _Run(lr=0.1), PlateauDecay("val", factor=0.5, patience=2)
    for value in (0.1, 0.3, 0.2, 0.25, 0.24, 0.4, 0.3, 0.2):
        decay.on_train_epoch_start(run, None)
        run.callback_metrics["val"] = torch.tensor(value)
        decay.on_validation_epoch_end(run, None)
    # Epochs 3-4 set no new best: halved after 4. Epoch 5 alone (the count restarted), then 6 is a new best;
    # epochs 7-8 halve it again.
    assert decay.rates == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05])
    assert run.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.025)


def test_replay_rates_trains_each_epoch_with_its_recorded_rate() -> None:
    run, replay = _Run(lr=0.1), ReplayRates([0.1, 0.1, 0.05, 0.025])
    seen = []
    for epoch in range(4):
        run.current_epoch = epoch
        replay.on_train_epoch_start(run, None)
        seen.append(run.optimizers[0].param_groups[0]["lr"])
    assert seen == [0.1, 0.1, 0.05, 0.025]


def test_fit_records_the_decayed_rates_epoch_by_epoch(toy) -> None:
    train, valid, users, items, sids = toy
    decayed = FitConfig(model=CFConfig(dim=16, n_negatives=32, lr=0.01), epochs=6, patience=6, batch_size=256,
                        progress=False, lr_decay=0.1)
    result = fit_cf(train, valid, users, items, sids, decayed)
    constant = fit_cf(train, valid, users, items, sids, replace(decayed, lr_decay=1.0))

    curve, rates = result.validation_curve, result.learning_rates
    assert rates[0] == 0.01 and len(rates) == len(curve) == 6
    assert len(set(rates)) > 1  # the toy's curve does flatten
    for epoch in range(1, len(rates)):  # lowered exactly after the epochs that set no new best
        new_best = curve[epoch - 1] > max(curve[:epoch - 1], default=-np.inf)
        assert rates[epoch] == pytest.approx(rates[epoch - 1] * (1.0 if new_best else 0.1))
    assert constant.learning_rates == [0.01] * 6


@pytest.mark.parametrize("epochs", [0, -1])
def test_lr_decay_patience_must_be_at_least_one_epoch(epochs: int) -> None:
    with pytest.raises(ValueError, match=rf"lr_decay_patience: expected a whole number of epochs >= 1, got {epochs}"):
        FitConfig(lr_decay_patience=epochs)


@pytest.mark.parametrize("factor", [0.0, 1.5, -0.5])
def test_lr_decay_must_be_a_factor_in_the_unit_interval(factor: float) -> None:
    with pytest.raises(ValueError, match=rf"lr_decay: expected a factor in \(0, 1\], got {factor}"):
        FitConfig(lr_decay=factor)


def test_validation_ranks_every_validation_user_or_a_seeded_sample_of_them() -> None:
    valid = pd.DataFrame({"user_id": np.repeat(np.arange(0, 200, 2), 2), "item_id": 0})

    assert validation_users(valid, 0, 1).tolist() == list(range(0, 200, 2))
    assert validation_users(valid, 500, 1).tolist() == list(range(0, 200, 2))  # a sample larger than all: all
    sample = validation_users(valid, 30, 1)
    assert len(sample) == 30 and np.all(np.diff(sample) > 0) and set(sample) <= set(range(0, 200, 2))
    np.testing.assert_array_equal(sample, validation_users(valid, 30, 1))
    assert not np.array_equal(sample, validation_users(valid, 30, 2))
    with pytest.raises(ValueError, match="valid_users"):
        FitConfig(valid_users=-1)


def test_sparse_embeddings_train_with_lazy_adam_which_moves_only_the_rows_a_batch_looked_up(toy) -> None:
    train, valid, users, items, sids = toy
    model_config = CFConfig(dim=16, n_negatives=32, embedding_gradients="sparse", history_weight=0.0)
    config = FitConfig(model=model_config, epochs=2, patience=2, batch_size=256, lr_decay=0.5, progress=False)
    result = fit_cf(train, valid, users, items, sids, config)

    assert np.isfinite(result.validation_curve).all() and result.model.user_embedding.sparse
    # One step by hand: the users outside the batch keep their rows exactly (dense Adam would move them all).
    model = seeded_model(train, users, items, None, config)
    dense_adam, lazy_adam = model.configure_optimizers()
    before = model.user_embedding.weight.detach().clone()
    batch = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    model.train()
    for optimiser in (dense_adam, lazy_adam):
        optimiser.zero_grad()
    loss = model.recommendation_loss(model.user_vectors(batch[0]), model.item_vectors(batch[1]), batch[1],
                                     model.item_vectors(torch.tensor([6, 7])), torch.tensor([6, 7]))
    loss.backward()
    assert model.user_embedding.weight.grad.is_sparse
    for optimiser in (dense_adam, lazy_adam):
        optimiser.step()
    moved = (model.user_embedding.weight.detach() != before).any(1)
    assert moved[:3].all() and not moved[3:].any()


def _warm(config: FitConfig) -> FitConfig:
    return replace(config, warm_start=True, model=replace(config.model, sid_gate=True))


def test_a_warm_start_begins_as_the_baseline_and_trains_on_from_its_selected_epoch(toy) -> None:
    train, valid, users, items, sids = toy
    fit = _warm(FitConfig(model=CFConfig(dim=16, n_negatives=32), epochs=3, patience=3, batch_size=256,
                          lr_decay=0.5, progress=False))
    config = TrainConfig(variants=("full", "base"), fit=fit)
    assert config.training_order() == ["base", "full"]
    base = fit_cf(train, valid, users, items, None, config.for_variant("base"))
    start = warm_start_from(base, config.for_variant("base"))
    assert start.validation == max(base.validation_curve)
    assert start.learning_rate == base.learning_rates[base.best_epoch - 1]

    # The gated SID model, loaded with base's selected weights, scores every user and item as base does.
    full_config = config.for_variant("full")
    begun = seeded_model(train, users, items, sids, full_config)
    start_from(begun, start.selected)
    base_model = seeded_model(train, users, items, None, config.for_variant("base"))
    base_model.load_state_dict(start.selected)
    everyone = torch.arange(len(users))
    assert torch.equal(begun.eval().scores(everyone), base_model.eval().scores(everyone))

    full = fit_cf(train, valid, users, items, sids, full_config, start=start)
    assert full.first_epoch == 0 and full.validation_curve[0] == start.validation
    assert len(full.validation_curve) == len(full.learning_rates) + 1
    assert full.learning_rates[0] == start.learning_rate  # goes on at the rate base's selected epoch had
    assert full.best_epoch == int(np.argmax(full.validation_curve))


@pytest.mark.parametrize("refit", [False, True])
def test_a_warm_start_that_no_epoch_beats_is_kept_as_the_result(toy, refit: bool) -> None:
    train, valid, users, items, sids = toy
    config = TrainConfig(fit=_warm(FitConfig(model=CFConfig(dim=16, n_negatives=32), epochs=3, patience=2,
                                             batch_size=256, refit=refit, progress=False)))
    base = fit_cf(train, valid, users, items, None, config.for_variant("base"))
    # A learning rate that wrecks every epoch after the start: validation must keep the start.
    start = warm_start_from(base, config.for_variant("base"))._replace(learning_rate=50.0)
    full = fit_cf(train, valid, users, items, sids, config.for_variant("full"), start=start)

    assert full.best_epoch == 0 and max(full.validation_curve[1:]) < full.validation_curve[0]
    everyone = torch.arange(len(users))
    # The kept model is base's (its refit, under refit), the SID inputs gated shut.
    assert torch.allclose(full.model.scores(everyone), base.model.scores(everyone), atol=1e-6)
    assert full.model.user_sids.gates.abs().max().item() == 0.0


def test_a_warm_start_refit_trains_on_from_base_refit_for_the_selected_epochs(toy, caplog) -> None:
    train, valid, users, items, sids = toy
    config = TrainConfig(fit=_warm(FitConfig(model=CFConfig(dim=16, n_negatives=32), epochs=2, patience=2,
                                             batch_size=256, refit=True, progress=False)))
    base = fit_cf(train, valid, users, items, None, config.for_variant("base"))
    start = warm_start_from(base, config.for_variant("base"))
    assert start.refitted is not None
    with caplog.at_level(logging.INFO, logger="dqrec.cf.fit"):
        full = fit_cf(train, valid, users, items, sids, config.for_variant("full"), start=start)
    assert full.best_epoch > 0  # on the toy, training with the SIDs beats the start
    assert f"refitting on train + validation for {full.best_epoch} epochs" in caplog.text
    assert full.trained_interactions == len(train) * 2 + (len(train) + len(valid)) * full.best_epoch
    assert full.model.user_sids.gates.abs().max().item() > 0  # the refit trained them open again


def test_a_warm_start_is_refused_without_base_without_gates_and_without_its_start(toy) -> None:
    train, valid, users, items, sids = toy
    fit = _warm(FitConfig(model=CFConfig(dim=16, n_negatives=32), epochs=1, patience=1, progress=False))
    with pytest.raises(ValueError, match="warm_start: .*variants must include base; got \\['full'\\]"):
        TrainConfig(variants=("full",), fit=fit)
    with pytest.raises(ValueError, match="warm_start: needs sid_gate: true"):
        TrainConfig(fit=replace(fit, model=replace(fit.model, sid_gate=False)))
    with pytest.raises(ValueError, match="warm_start: a SID variant starts from the base variant's weights"):
        fit_cf(train, valid, users, items, sids, TrainConfig(fit=fit).for_variant("full"))


def test_start_from_refuses_weights_of_another_shape(toy) -> None:
    train, _, users, items, sids = toy
    config = _warm(FitConfig(model=CFConfig(dim=16, n_negatives=32, sid_features=True, linkage=True)))
    model = seeded_model(train, users, items, sids, config)
    other = seeded_model(train, users, items, None, replace(config, model=replace(config.model, dim=8,
                                                                                  sid_features=False, linkage=False)))
    with pytest.raises(RuntimeError, match="size mismatch"):
        start_from(model, other.state_dict())
    with pytest.raises(ValueError, match="warm start: the base weights do not fit .*not in them: \\['item_bias"):
        start_from(model, {k: v for k, v in model.state_dict().items() if not k.startswith("item_bias")})


def test_a_frozen_warm_start_trains_the_sid_parameters_and_nothing_else(toy) -> None:
    train, valid, users, items, sids = toy
    config = TrainConfig(fit=replace(_warm(FitConfig(model=CFConfig(dim=16, n_negatives=32), epochs=2, patience=2,
                                                     batch_size=256, progress=False)), freeze_base=True))
    base = fit_cf(train, valid, users, items, None, config.for_variant("base"))
    start = warm_start_from(base, config.for_variant("base"))
    full = fit_cf(train, valid, users, items, sids, config.for_variant("full"), start=start)

    assert full.best_epoch > 0  # on the toy, the SIDs beat the start
    state = full.model.state_dict()
    for name, weights in start.selected.items():
        assert torch.equal(state[name], weights), name  # base's weights, untouched
    trained = [name for name in state if name.startswith(SID_PARAMETERS)]
    assert trained and full.model.user_sids.gates.abs().min().item() > 0


def test_freeze_base_without_a_warm_start_is_refused() -> None:
    with pytest.raises(ValueError, match="freeze_base: .*needs warm_start: true"):
        FitConfig(freeze_base=True)
