"""Fit the two-tower CF model (baseline or SID-augmented) on the train split; select the epoch by full-ranking
NDCG@20 on the validation split (train items masked), with early stopping. Optionally refit from scratch on train
and validation together for the selected number of epochs (the validation interactions are data too)."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
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
from dqrec.evaluate.ranking import UserItems
from dqrec.represent.features import attribute_bags, user_histories, vocabulary_sizes
from dqrec.training import KeepBest, pairs_loader, quiet_lightning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitConfig:
    model: CFConfig = CFConfig()
    epochs: int = 30
    patience: int = 3
    batch_size: int = 2048
    max_history: int = 50
    min_shared: int = 2  # m: SID neighbours share at least m of the L codes
    max_neighbours: int = 10
    seed: int = 2025
    refit: bool = False  # retrain on train + valid for the selected number of epochs
    lr_decay: float = 1.0  # multiplies the learning rate after lr_decay_patience epochs without a new best
    lr_decay_patience: int = 1  # 1: after every such epoch; more lets one noisy dip pass unpunished
    progress: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay: expected a factor in (0, 1], got {self.lr_decay}")
        if self.lr_decay_patience < 1:
            raise ValueError(f"lr_decay_patience: expected a whole number of epochs >= 1, got {self.lr_decay_patience}")


class Sids(NamedTuple):
    users: np.ndarray  # (U, L)
    items: np.ndarray  # (I, L)
    user_codes: int  # J of the user codebooks
    item_codes: int


class FitResult(NamedTuple):
    model: TwoTowerCF
    validation_curve: list[float]  # NDCG@20 on validation per epoch (of the selection run)
    best_epoch: int
    seconds: float
    trained_interactions: int  # interactions seen in all epochs of both runs (for throughput)
    learning_rates: list[float]  # the rate each epoch of the selection run trained with


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

    def __init__(self, monitor: str, factor: float, patience: int = 1) -> None:
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.best = float("-inf")
        self.epochs_without_best = 0
        self.rates: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])

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
            groups = trainer.optimizers[0].param_groups
            for group in groups:
                group["lr"] *= self.factor
            log.info("no new best validation NDCG@20 for %d epoch(s): learning rate now %.2g", self.patience,
                     groups[0]["lr"])


class ReplayRates(L.Callback):
    """Train epoch e with ``rates[e]`` (a PlateauDecay record)."""

    def __init__(self, rates: list[float]) -> None:
        self.rates = rates

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        for group in trainer.optimizers[0].param_groups:
            group["lr"] = self.rates[trainer.current_epoch]


VARIANTS = {"base": (False, False), "feature": (True, False), "linkage": (False, True), "full": (True, True)}


def build_model(users: pd.DataFrame, items: pd.DataFrame, sids: Sids | None, config: FitConfig) -> TwoTowerCF:
    if (config.model.sid_features or config.model.linkage) and sids is None:
        raise ValueError("SID features or linkage need semantic IDs (run the sids stage first)")
    vocab_users, vocab_items = vocabulary_sizes(attribute_bags(users)), vocabulary_sizes(attribute_bags(items))
    return TwoTowerCF(len(users), len(items), vocab_users, vocab_items, sids.users.shape[1] if sids else 1,
                      sids.user_codes if sids else 1, sids.item_codes if sids else 1, config.model)


def attach_inputs(model: TwoTowerCF, history: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame,
                  sids: Sids | None, config: FitConfig) -> None:
    """Give the towers their inputs: histories from ``history`` (the train split while training; train and
    validation when scoring test), attribute bags, SID codes and SID neighbours (seeded, so rebuilt identically)."""
    extra: dict[str, torch.Tensor] = {}
    if sids is not None:
        extra |= {"user_codes": torch.from_numpy(sids.users), "item_codes": torch.from_numpy(sids.items)}
    if config.model.linkage:
        extra |= {f"{kind}_neighbours": torch.from_numpy(
                      sid_neighbours(codes, config.min_shared, config.max_neighbours, config.seed).ids)
                  for kind, codes in (("user", sids.users), ("item", sids.items))}
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


def _trainer(config: FitConfig, epochs: int, callbacks: list[L.Callback]) -> L.Trainer:
    return L.Trainer(max_epochs=epochs, accelerator="cpu", deterministic=True, logger=False,
                     enable_checkpointing=False, enable_model_summary=False, enable_progress_bar=config.progress,
                     num_sanity_val_steps=0, callbacks=callbacks)


def fit_cf(train: pd.DataFrame, valid: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame,
           sids: Sids | None, config: FitConfig, checkpoint: Path | None = None) -> FitResult:
    start = time.perf_counter()
    quiet_lightning()
    n_users, n_items = len(users), len(items)
    model = seeded_model(train, users, items, sids, config)
    model.attach_validation(UserItems.from_frame(train, n_users, n_items),
                            UserItems.from_frame(valid, n_users, n_items))
    keep_best = KeepBest(SELECTION_METRIC, mode="max")
    decay = PlateauDecay(SELECTION_METRIC, config.lr_decay, config.lr_decay_patience)
    trainer = _trainer(config, config.epochs, [
        keep_best, _EpochLog(), decay, EarlyStopping(SELECTION_METRIC, patience=config.patience, mode="max")])
    valid_users = TensorDataset(torch.tensor(np.unique(valid["user_id"].to_numpy())))
    trainer.fit(model, pairs_loader(train, config.batch_size, config.seed), DataLoader(valid_users, batch_size=1024))
    curve = keep_best.curve
    best_epoch = int(np.argmax(curve)) + 1
    trained = len(train) * len(curve)
    if config.refit:
        # Same seed, same schedule (the learning rates too), one more share of data; nothing left to validate
        # on, so the epoch count chosen above is the whole selection.
        log.info("refitting on train + validation for %d epochs", best_epoch)
        known = pd.concat([train, valid], ignore_index=True)
        model = seeded_model(known, users, items, sids, config)
        trainer = _trainer(config, best_epoch, [ReplayRates(decay.rates), _RefitLog()])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")  # none, by design
            trainer.fit(model, pairs_loader(known, config.batch_size, config.seed))
        trained += len(known) * best_epoch
    if checkpoint is not None:
        trainer.save_checkpoint(checkpoint, weights_only=True)
    return FitResult(model.eval(), curve, best_epoch, time.perf_counter() - start, trained, decay.rates)
