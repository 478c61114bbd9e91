"""Lightning helpers shared by the pre-training encoder, DQ-VAE and the CF model."""

from __future__ import annotations

import copy
import logging
import warnings

import lightning as L
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset


def quiet_lightning() -> None:
    """Silence Lightning's known, harmless notices on CPU-only runs (BRIEF §6)."""
    for pattern in (".*does not have many workers.*", ".*GPU available but not used.*", ".*LeafSpec.*",
                    ".*TPU available.*", ".*smaller than the logging interval.*", ".*litlogger.*"):
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)


class KeepBest(L.Callback):
    """Restore, when training ends, the weights with the best value of ``monitor`` on validation data
    (lowest for ``mode="min"``, highest for ``"max"``).

    Give the starting point's value and state to let it win too (training may only make things worse).
    """

    def __init__(self, monitor: str, initial_value: float | None = None,
                 initial_state: dict[str, torch.Tensor] | None = None, mode: str = "min") -> None:
        self.monitor = monitor
        self.sign = 1.0 if mode == "min" else -1.0
        self.best = float("inf") if initial_value is None else self.sign * initial_value
        self.state = copy.deepcopy(initial_state)
        self.curve: list[float] = [] if initial_value is None else [initial_value]

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or trainer.sanity_checking:
            return
        self.curve.append(float(value))
        if self.sign * float(value) < self.best:
            self.best = self.sign * float(value)
            self.state = copy.deepcopy(module.state_dict())

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


class _BatchGatheredTensors(TensorDataset):
    """A TensorDataset that the DataLoader reads a whole batch of at once (one indexing op per tensor), not row
    by row and then stacked: on gowalla's 2048-pair batches the row-by-row path took a fifth of each step."""

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.tensor(indices)
        return tuple(tensor[index] for tensor in self.tensors)


def _as_is(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return batch


def pairs_loader(interactions: pd.DataFrame, batch_size: int, seed: int, shuffle: bool = True) -> DataLoader:
    """Batches of (user ids (B,), item ids (B,)) of ``interactions``' pairs, shuffled by a generator seeded with
    ``seed``. The sampler and its draws are DataLoader's own (``shuffle=True``), so the batches are those of a plain
    DataLoader. The ids are copied: the frame's arrays may be read-only or change later."""
    users, items = (torch.tensor(interactions[column].to_numpy()) for column in ("user_id", "item_id"))
    return DataLoader(_BatchGatheredTensors(users, items), batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed), collate_fn=_as_is)
