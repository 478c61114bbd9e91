"""Fit the pre-training encoder on the train split and return Z_user, Z_item (the behaviour view, and beside it
the text view where ``text_dim`` asks for one and the graph view where ``graph_dim`` does)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import lightning as L
import numpy as np
import pandas as pd
from lightning.pytorch.callbacks import EarlyStopping

from dqrec.configtree import nested, runtime
from dqrec.represent.encoder import EncoderConfig, TwoTowerEncoder
from dqrec.represent.features import TimeOrdered, attribute_bags, in_time_order, user_histories, vocabulary_sizes
from dqrec.represent.graph import graph_view
from dqrec.represent.text import text_view, with_views
from dqrec.training import DEFAULT_TRAINER, KeepBest, TrainerConfig, build_trainer, pairs_loader, quiet_lightning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    """params.yaml's ``pretrain`` section (the encoder's keys sit beside the loop's)."""

    encoder: EncoderConfig = nested(EncoderConfig)
    epochs: int = 10
    patience: int = 2  # epochs without a lower validation loss before stopping; the best epoch is kept
    batch_size: int = 1024
    max_history: int = 50
    seed: int = 2025
    # A text view beside the behaviour view (dqrec.represent.text): its width (0: none) and weight.
    text_dim: int = 0
    text_weight: float = 1.0
    # A graph view beside it (dqrec.represent.graph): its width (0: none) and weight.
    graph_dim: int = 0
    graph_weight: float = 1.0
    progress: bool = runtime(True)

    def __post_init__(self) -> None:
        for name in ("text_dim", "text_weight", "graph_dim", "graph_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"pretrain.{name}: expected >= 0, got {getattr(self, name)}")


class Representations(NamedTuple):
    users: np.ndarray  # (U, D [+ text_dim] [+ graph_dim]) float32
    items: np.ndarray  # (I, D [+ text_dim] [+ graph_dim]) float32
    history: dict[str, list[float]]  # train_loss / val_loss per epoch
    best_epoch: int  # the epoch whose weights gave these representations (lowest validation loss)
    is_global_zero: bool  # this process is rank 0 (under DDP, the one whose outputs are written)
    text_words: int = 0  # the text view's vocabulary (0: no text view)


class _EpochHistory(L.Callback):
    """Records the losses of each epoch and reports them, so runs without a terminal show progress too."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking and "val_loss" in trainer.callback_metrics:
            self.history["val_loss"].append(float(trainer.callback_metrics["val_loss"]))

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if "train_loss" in trainer.callback_metrics:
            self.history["train_loss"].append(float(trainer.callback_metrics["train_loss"]))
        validation = self.history["val_loss"][-1] if self.history["val_loss"] else float("nan")
        log.info("epoch %d/%d: train loss %.4f, validation loss %.4f", trainer.current_epoch + 1, trainer.max_epochs,
                 self.history["train_loss"][-1], validation)


def pretrain(train: pd.DataFrame, valid: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame,
             config: PretrainConfig, trainer_config: TrainerConfig = DEFAULT_TRAINER) -> Representations:
    quiet_lightning()
    L.seed_everything(config.seed, workers=True, verbose=False)
    user_tokens, item_tokens = attribute_bags(users), attribute_bags(items)
    model = TwoTowerEncoder(len(users), len(items), vocabulary_sizes(user_tokens), vocabulary_sizes(item_tokens),
                            config.encoder)
    model.attach_features(user_histories(train, len(users), config.max_history), user_tokens, item_tokens)
    causal = model.reads_order
    if causal:  # each pair reads the items before it: the loader hands out positions in the time-ordered split
        train = in_time_order(train)
        model.attach_sequences(TimeOrdered.of(train, len(users)))
    history = _EpochHistory()
    keep_best = KeepBest("val_loss")
    trainer = build_trainer(trainer_config, config.epochs,
                            [history, keep_best, EarlyStopping("val_loss", patience=config.patience)], config.progress)
    trainer.fit(model, pairs_loader(train, config.batch_size, config.seed, shuffle=True, with_positions=causal),
                pairs_loader(valid, config.batch_size, config.seed, shuffle=False))
    z_user, z_item = (z.numpy().astype(np.float32) for z in model.representations())
    user_views: list[tuple[np.ndarray, float]] = []
    item_views: list[tuple[np.ndarray, float]] = []
    words = 0
    if config.text_dim:
        text = text_view(items, train, len(users), config.text_dim, config.seed)
        user_views.append((text.users, config.text_weight))
        item_views.append((text.items, config.text_weight))
        words = text.vocabulary
        log.info("text view: %d words, %d of %d items with text", text.vocabulary, text.items_with_text, len(items))
    if config.graph_dim:
        graph = graph_view(train, len(users), len(items), config.graph_dim, config.seed)
        user_views.append((graph.users, config.graph_weight))
        item_views.append((graph.items, config.graph_weight))
        log.info("graph view: singular values of the normalised interactions %.3f to %.3f",
                 graph.singular_values[0], graph.singular_values[-1])
    if user_views:
        z_user, z_item = with_views(z_user, user_views), with_views(z_item, item_views)
    return Representations(z_user, z_item, history.history, int(np.argmin(history.history["val_loss"])) + 1,
                           trainer.is_global_zero, words)

