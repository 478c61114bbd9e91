"""Fit the two-tower CF model (baseline or SID-augmented) on the train split; select the epoch by full-ranking
NDCG@20 on the validation split (train items masked), with early stopping. Optionally refit from scratch on train
and validation together for the selected number of epochs (the validation interactions are data too)."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import EarlyStopping
from torch.utils.data import DataLoader, TensorDataset

from dqrec.cf.linkage import sid_neighbours
from dqrec.cf.model import SELECTION_METRIC, CFConfig, TwoTowerCF
from dqrec.configtree import nested, runtime
from dqrec.evaluate.ranking import UserItems, sample_users
from dqrec.quantize.sid_tables import Sids
from dqrec.represent.features import attribute_bags, user_histories, vocabulary_sizes
from dqrec.training import (
    DEFAULT_TRAINER,
    KeepBest,
    TrainerConfig,
    UnpaddedShard,
    build_trainer,
    pairs_loader,
    quiet_lightning,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    """How one variant trains: the model's config and the loop's (params.yaml's ``train`` section, less
    ``variants``)."""

    model: CFConfig = nested(CFConfig)
    epochs: int = 100
    patience: int = 10  # a longer patience can only find a better validation epoch: the run is the same up to
    # where a shorter one stops
    batch_size: int = 2048
    max_history: int = 50
    min_shared: int = 2  # m: SID neighbours share at least m of the L codes
    max_neighbours: int = 10
    valid_users: int = 0  # validation ranks a seeded sample of this many users (0: every validation user)
    seed: int = 2025
    refit: bool = False  # retrain on train + valid for the selected number of epochs
    lr_decay: float = 1.0  # multiplies the learning rate after lr_decay_patience epochs without a new best
    lr_decay_patience: int = 1  # 1: after every such epoch; more lets one noisy dip pass unpunished
    warm_start: bool = False  # SID variants start from the base variant's selected weights (see WarmStart)
    freeze_base: bool = False  # under warm_start, train the SID parameters only: base's weights stay as selected
    progress: bool = runtime(True)

    def __post_init__(self) -> None:
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay: expected a factor in (0, 1], got {self.lr_decay}")
        if self.valid_users < 0:
            raise ValueError(f"valid_users: expected a number of users >= 0 (0: all), got {self.valid_users}")
        if self.lr_decay_patience < 1:
            raise ValueError(f"lr_decay_patience: expected a whole number of epochs >= 1, got {self.lr_decay_patience}")
        if self.freeze_base and not self.warm_start:
            raise ValueError("freeze_base: keeps the weights a warm start begins from, so it needs warm_start: true")


class WarmStart(NamedTuple):
    """Where a SID variant starts under ``train.warm_start``: the base variant, trained and selected. With the SID
    inputs gated from zero, the starting model computes the baseline's scores exactly, so validation can keep it
    (epoch 0) unless an epoch of training with the SIDs beats it: the SIDs are asked for what the converged
    baseline lacks, not for the faster climb that a shorter budget rewards."""

    selected: dict[str, torch.Tensor]  # base's weights at the epoch validation selected
    refitted: dict[str, torch.Tensor] | None  # base's weights after its refit on train + validation (None: no refit)
    learning_rate: float  # the rate base's selected epoch trained with: the SID variant goes on at it
    validation: float  # base's validation NDCG@20 at that epoch, which the starting model scores too


class FitResult(NamedTuple):
    model: TwoTowerCF
    validation_curve: list[float]  # NDCG@20 on validation per epoch (of the selection run), from first_epoch on
    best_epoch: int  # under a warm start, the epochs trained after the start (0: the start itself)
    seconds: float
    trained_interactions: int  # interactions seen in all epochs of both runs (for throughput)
    learning_rates: list[float]  # the rate each epoch of the selection run trained with
    is_global_zero: bool  # this process is rank 0 (the only one a distributed run's artifacts come from)
    world_size: int  # processes that trained it (1 unless trainer.strategy is ddp)
    selected_state: dict[str, torch.Tensor]  # the weights validation selected (before any refit)
    first_epoch: int = 1  # the epoch validation_curve[0] was measured after: 0 when a warm start is its first point


class _EpochLog(L.Callback):
    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking and SELECTION_METRIC in trainer.callback_metrics:
            log.info("epoch %d/%d: validation NDCG@20 %.4f", trainer.current_epoch + 1, trainer.max_epochs,
                     float(trainer.callback_metrics[SELECTION_METRIC]))


class _RefitLog(L.Callback):
    """The refit has no validation to report, so say how far it is: it can run for as long as the selection."""

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        loss = trainer.callback_metrics.get("train_loss")
        log.info("refit epoch %d/%d: train loss %s", trainer.current_epoch + 1, trainer.max_epochs,
                 "n/a" if loss is None else f"{float(loss):.4f}")


class PlateauDecay(L.Callback):
    """Multiply the learning rate by ``factor`` once ``patience`` epochs in a row set no new best ``monitor``
    (higher is better; the count restarts after each decay), and record the rate each epoch trained with, so that a
    refit without validation can replay it."""

    def __init__(self, monitor: str, factor: float, patience: int = 1, best: float = float("-inf")) -> None:
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.best = best  # a warm start's own value: an epoch below it is one without a new best
        self.epochs_without_best = 0
        self.rates: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])  # every optimiser's groups share it

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or trainer.sanity_checking:
            return
        if float(value) > self.best:
            self.best, self.epochs_without_best = float(value), 0
            return
        self.epochs_without_best += 1
        if self.epochs_without_best >= self.patience and self.factor != 1.0:
            self.epochs_without_best = 0
            groups = [group for optimiser in trainer.optimizers for group in optimiser.param_groups]
            for group in groups:
                group["lr"] *= self.factor
            log.info("no new best validation NDCG@20 for %d epoch(s): learning rate now %.2g", self.patience,
                     groups[0]["lr"])


class ReplayRates(L.Callback):
    """Train epoch e with ``rates[e]`` (a PlateauDecay record)."""

    def __init__(self, rates: list[float]) -> None:
        self.rates = rates

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        for group in (group for optimiser in trainer.optimizers for group in optimiser.param_groups):
            group["lr"] = self.rates[trainer.current_epoch]


VARIANTS = {"base": (False, False), "feature": (True, False), "linkage": (False, True), "full": (True, True)}


@dataclass(frozen=True)
class TrainConfig:
    """params.yaml's ``train`` section: the variants to train and how each trains."""

    variants: tuple[str, ...] = ("base", "full")
    fit: FitConfig = nested(FitConfig)

    def __post_init__(self) -> None:
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise ValueError(f"variants: expected some of {list(VARIANTS)}, got {list(self.variants)}")
        if self.fit.warm_start and "base" not in self.variants:
            raise ValueError(f"warm_start: the SID variants start from the base variant's weights, so variants must"
                             f" include base; got {list(self.variants)}")
        if self.fit.warm_start and not self.fit.model.sid_gate:
            raise ValueError("warm_start: needs sid_gate: true, so that a SID variant starts as the baseline it"
                             " starts from (its SID inputs gated from zero)")

    def training_order(self) -> list[str]:
        """The variants in the order they train: base first under a warm start, which the others start from."""
        return sorted(self.variants, key=lambda variant: variant != "base") if self.fit.warm_start else list(
            self.variants)

    def for_variant(self, variant: str) -> FitConfig:
        """The fit config of ``variant``: its SID switches set, everything else as the section says."""
        return variant_config(self.fit, variant)


def variant_config(fit: FitConfig, variant: str) -> FitConfig:
    """``fit`` with ``variant``'s SID switches set."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {list(VARIANTS)}, got {variant!r}")
    features, linkage = VARIANTS[variant]
    return replace(fit, model=replace(fit.model, sid_features=features, linkage=linkage))


def build_model(users: pd.DataFrame, items: pd.DataFrame, sids: Sids | None, config: FitConfig) -> TwoTowerCF:
    if (config.model.sid_features or config.model.linkage) and sids is None:
        raise ValueError("SID features or linkage need semantic IDs (run the sids stage first)")
    vocab_users, vocab_items = vocabulary_sizes(attribute_bags(users)), vocabulary_sizes(attribute_bags(items))
    return TwoTowerCF(len(users), len(items), vocab_users, vocab_items, sids.users.shape[1] if sids else 1,
                      sids.user_codes if sids else 1, sids.item_codes if sids else 1, config.model)


def attach_inputs(model: TwoTowerCF, history: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame,
                  sids: Sids | None, config: FitConfig) -> None:
    """Give the towers their inputs: histories from ``history`` (the train split while training; train and
    validation when scoring test), attribute bags, SID codes and SID neighbours (seeded, so rebuilt identically),
    and, under SID shrinkage, each entity's interaction count in ``history``."""
    extra: dict[str, torch.Tensor] = {}
    if sids is not None:
        extra |= {"user_codes": torch.from_numpy(sids.users), "item_codes": torch.from_numpy(sids.items)}
    if config.model.linkage:
        extra |= {f"{kind}_neighbours": torch.from_numpy(
                      sid_neighbours(codes, config.min_shared, config.max_neighbours, config.seed).ids)
                  for kind, codes in (("user", sids.users), ("item", sids.items))}
    if config.model.sid_shrinkage > 0:
        extra |= {f"{kind}_interactions": torch.from_numpy(np.bincount(history[column].to_numpy(), minlength=n))
                  for kind, column, n in (("user", "user_id", len(users)), ("item", "item_id", len(items)))}
    if config.model.audience_weight > 0:  # the same reader, users and items swapped
        swapped = history.rename(columns={"user_id": "item_id", "item_id": "user_id"})
        extra["audiences"] = user_histories(swapped, len(items), config.max_history)
    model.attach(user_histories(history, len(users), config.max_history), attribute_bags(users),
                 attribute_bags(items), **extra)


def seeded_model(history: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame, sids: Sids | None,
                  config: FitConfig) -> TwoTowerCF:
    """The same initial weights for the same seed, whichever interactions feed its inputs."""
    L.seed_everything(config.seed, workers=True, verbose=False)
    model = build_model(users, items, sids, config)
    attach_inputs(model, history, users, items, sids, config)
    return model


SID_PARAMETERS = ("user_sids.", "item_sids.", "neighbour_gates")  # what the baseline lacks: code tables, gates


def freeze_all_but_the_sids(model: TwoTowerCF) -> None:
    """Leave only the SID parameters to train (``freeze_base``)."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith(SID_PARAMETERS))


def start_from(model: TwoTowerCF, state: dict[str, torch.Tensor], freeze_base: bool = False) -> None:
    """Load a base model's weights into a SID variant's ``model``, whose SID parameters (code embeddings, gates)
    keep their initial values; refuse a state that leaves anything else unset or does not fit. With
    ``freeze_base``, only the SID parameters are left to train."""
    incompatible = model.load_state_dict(state, strict=False)
    unset = [key for key in incompatible.missing_keys if not key.startswith(SID_PARAMETERS)]
    if unset or incompatible.unexpected_keys:
        raise ValueError(f"warm start: the base weights do not fit this variant's model (not in them: {unset}; "
                         f"not in the model: {incompatible.unexpected_keys})")
    if freeze_base:
        freeze_all_but_the_sids(model)


def warm_start_from(base: FitResult, config: FitConfig) -> WarmStart:
    """What the SID variants start from: ``base``, trained with ``config``."""
    best = base.best_epoch - base.first_epoch  # index into the curve and the rates
    return WarmStart(selected=base.selected_state, refitted=base.model.state_dict() if config.refit else None,
                     learning_rate=base.learning_rates[best], validation=base.validation_curve[best])


def validation_users(valid: pd.DataFrame, sample: int, seed: int) -> np.ndarray:
    """The users whose validation NDCG@20 selects the epoch: all with a validation interaction, or a seeded sample
    of ``sample`` of them (sorted), so that validating a large catalogue costs the sample, not every user."""
    return sample_users(np.unique(valid["user_id"].to_numpy()), sample, seed)


def fit_cf(train: pd.DataFrame, valid: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame,
           sids: Sids | None, config: FitConfig, checkpoint: Path | None = None,
           trainer_config: TrainerConfig = DEFAULT_TRAINER, provenance: dict | None = None,
           start: WarmStart | None = None) -> FitResult:
    """Train, select the epoch on validation, optionally refit; under DDP every process returns the same
    result (metrics are reduced across processes) and only rank 0 writes the checkpoint. ``provenance`` (the
    training config, fingerprints of the inputs) is stored in the checkpoint beside the weights. A SID variant
    under ``warm_start`` trains on from ``start`` (the base variant's result, ``warm_start_from``)."""
    begin = time.perf_counter()
    quiet_lightning()
    n_users, n_items = len(users), len(items)
    has_sids = config.model.sid_features or config.model.linkage
    if config.warm_start and has_sids and start is None:
        raise ValueError("warm_start: a SID variant starts from the base variant's weights; train base first and "
                         "pass warm_start_from(its result)")
    if start is not None:
        if not (has_sids and config.model.sid_gate):
            raise ValueError("a warm start is for a SID variant with sid_gate on, which starts as the baseline")
        if config.refit and start.refitted is None:
            raise ValueError("refit: the warm start has no refitted base weights (base trained without refit)")
        config = replace(config, model=replace(config.model, lr=start.learning_rate))
    model = seeded_model(train, users, items, sids, config)
    if start is not None:
        start_from(model, start.selected, config.freeze_base)
    model.attach_validation(UserItems.from_frame(train, n_users, n_items),
                            UserItems.from_frame(valid, n_users, n_items))
    # A warm start's own score is the first point of the curve: its gates are zero, so it scores as base did.
    keep_best = (KeepBest(SELECTION_METRIC, mode="max") if start is None else
                 KeepBest(SELECTION_METRIC, start.validation, model.state_dict(), mode="max"))
    decay = PlateauDecay(SELECTION_METRIC, config.lr_decay, config.lr_decay_patience,
                         float("-inf") if start is None else start.validation)
    trainer = build_trainer(trainer_config, config.epochs, [
        keep_best, _EpochLog(), decay, EarlyStopping(SELECTION_METRIC, patience=config.patience, mode="max")],
        config.progress)
    valid_users = TensorDataset(torch.from_numpy(validation_users(valid, config.valid_users, config.seed)))
    trainer.fit(model, pairs_loader(train, config.batch_size, config.seed),
                DataLoader(valid_users, batch_size=1024, sampler=UnpaddedShard(len(valid_users))))
    curve = keep_best.curve
    first_epoch = 0 if start is not None else 1
    best_epoch = int(np.argmax(curve)) + first_epoch
    if start is not None:
        log.info("warm start: validation NDCG@20 %.4f at the start (base), best %.4f after %d more epochs",
                 start.validation, max(curve), best_epoch)
    selected_state = keep_best.state
    trained = len(train) * len(decay.rates)
    if config.refit:
        # Same seed, same schedule (the learning rates too), one more share of data; nothing left to validate
        # on, so the epoch count chosen above is the whole selection.
        log.info("refitting on train + validation for %d epochs", best_epoch)
        known = pd.concat([train, valid], ignore_index=True)
        if start is not None and best_epoch == 0:  # the start won: base's refit, the SID inputs gated shut
            start_from(model, start.refitted)  # this model, not a new one: the trainer that saves it holds it
            attach_inputs(model, known, users, items, sids, config)
        else:
            model = seeded_model(known, users, items, sids, config)
            if start is not None:
                start_from(model, start.refitted, config.freeze_base)
            trainer = build_trainer(trainer_config, best_epoch, [ReplayRates(decay.rates), _RefitLog()],
                                    config.progress)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")  # none, by design
                trainer.fit(model, pairs_loader(known, config.batch_size, config.seed))
            trained += len(known) * best_epoch
    if checkpoint is not None:
        model.provenance = provenance or {}
        trainer.save_checkpoint(checkpoint, weights_only=True)
    return FitResult(model.eval(), curve, best_epoch, time.perf_counter() - begin, trained, decay.rates,
                     trainer.is_global_zero, trainer.world_size, selected_state, first_epoch)
