"""Lightning helpers shared by the pre-training encoder and DQ-VAE."""

from __future__ import annotations

import copy
import logging
import warnings

import lightning as L
import torch


def quiet_lightning() -> None:
    """Silence Lightning's known, harmless notices on CPU-only runs (BRIEF §6)."""
    for pattern in (".*does not have many workers.*", ".*GPU available but not used.*", ".*LeafSpec.*",
                    ".*TPU available.*", ".*smaller than the logging interval.*", ".*litlogger.*"):
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)


class KeepBest(L.Callback):
    """Restore, when training ends, the weights with the lowest value of ``monitor`` on validation data.

    Give the starting point's value and state to let it win too (training may only make things worse).
    """

    def __init__(self, monitor: str, initial_value: float = float("inf"),
                 initial_state: dict[str, torch.Tensor] | None = None) -> None:
        self.monitor = monitor
        self.best = initial_value
        self.state = copy.deepcopy(initial_state)
        self.curve: list[float] = [] if initial_state is None else [initial_value]

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or trainer.sanity_checking:
            return
        self.curve.append(float(value))
        if float(value) < self.best:
            self.best = float(value)
            self.state = copy.deepcopy(module.state_dict())

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)
