"""DQ-VAE (BRIEF §1): project centred representations onto L balanced SVD blocks, quantise each block with
its own trainable codebook, reconstruct through the same orthonormal blocks.

    x_l = (z - z̄) W_l                  c_l = argmin_j ‖x_l - r_l^j‖²
    ẑ   = Σ_l r_l^{c_l} W_lᵀ + z̄       L = L_R + β L_C,  L_R = ‖ẑ - z‖²,  L_C = Σ_l ‖x_l - r_l^{c_l}‖²

Only the codebooks train. Because [W_1 … W_L] is orthonormal, L_R = L_C and the optimum is per-block k-means;
the module starts from a short k-means, re-seeds dead codes from the worst-reconstructed points after each
epoch, and keeps the codebooks with the lowest held-out reconstruction error.

Optimisers (``Optimiser``): the loss is quadratic in each code vector with the diagonal Hessian
2(1 + β) n_j / B (n_j: points of the batch assigned to code j), so ``newton`` divides each code's gradient by
it and takes a step of size ``lr`` (1.0 on the full batch is exactly Lloyd's k-means update); ``adam`` is
plain Adam with step ``lr`` x the data's root-mean-square.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from dqrec.configtree import runtime
from dqrec.quantize.kmeans import fit_kmeans, nearest_centroid
from dqrec.training import DEFAULT_TRAINER, KeepBest, TrainerConfig, build_trainer, quiet_lightning


class DQVAEOutput(NamedTuple):
    codes: torch.Tensor  # (B, L) long
    projected: torch.Tensor  # (B, L, k) x_l
    quantized: torch.Tensor  # (B, L, k) r_l^{c_l}
    reconstruction: torch.Tensor  # (B, d) ẑ


class Losses(NamedTuple):
    reconstruction: torch.Tensor  # L_R, mean over the batch
    commitment: torch.Tensor  # L_C, mean over the batch


class Optimiser(StrEnum):
    NEWTON = "newton"
    ADAM = "adam"


class DQVAE(L.LightningModule):
    def __init__(self, dim: int, n_blocks: int, n_codes: int, beta: float = 0.25, lr: float = 1.0,
                 optimiser: str = "newton", seed: int = 0) -> None:  # a plain str: checkpoints load weights-only
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        block = dim // n_blocks
        self.register_buffer("mean", torch.zeros(dim))  # (d,)
        self.register_buffer("bases", torch.zeros(n_blocks, dim, block))  # (L, d, k)
        self.codebooks = nn.Parameter(torch.zeros(n_blocks, n_codes, block))  # (L, J, k)
        # Root-mean-square of the projected data: the optimiser's step is lr x this scale, so one lr fits any data.
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("usage", torch.zeros(n_blocks, n_codes), persistent=False)  # codes hit this epoch
        self._worst: torch.Tensor | None = None  # (M, L, k) badly reconstructed points of the last batch

    @classmethod
    def from_basis(cls, mean: np.ndarray, bases: np.ndarray, n_codes: int, **kwargs) -> DQVAE:
        n_blocks, dim, _ = bases.shape
        model = cls(dim, n_blocks, n_codes, **kwargs)
        model.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        model.bases.copy_(torch.as_tensor(bases, dtype=torch.float32))
        return model

    # --- the quantiser ------------------------------------------------------------------------------------

    def project(self, z: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, L, k)
        return torch.einsum("bd,ldk->blk", z - self.mean, self.bases)

    @torch.no_grad()
    def nearest(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, k) -> (B, L)
        # The assignment carries no gradient; faiss' exact search fuses distances and argmin (6x torch's here).
        points = x.detach().cpu().numpy()
        codebooks = self.codebooks.detach().cpu().numpy()
        codes = [nearest_centroid(points[:, level], codebooks[level]) for level in range(points.shape[1])]
        return torch.from_numpy(np.stack(codes, axis=1)).to(x.device)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, L, k)
        levels = torch.arange(codes.shape[1], device=codes.device)
        return self.codebooks[levels, codes]

    def forward(self, z: torch.Tensor) -> DQVAEOutput:
        x = self.project(z)
        codes = self.nearest(x)
        quantized = self.lookup(codes)
        reconstruction = torch.einsum("blk,ldk->bd", quantized, self.bases) + self.mean
        return DQVAEOutput(codes, x, quantized, reconstruction)

    @torch.no_grad()
    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """Semantic IDs (B, L) of representations z (B, d)."""
        return self.nearest(self.project(z))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Reconstructions ẑ (B, d) of semantic IDs (B, L)."""
        return torch.einsum("blk,ldk->bd", self.lookup(codes), self.bases) + self.mean

    def losses(self, z: torch.Tensor, output: DQVAEOutput) -> Losses:
        return Losses(
            reconstruction=(output.reconstruction - z).pow(2).sum(-1).mean(),
            commitment=(output.projected - output.quantized).pow(2).sum((-1, -2)).mean(),
        )

    # --- training -----------------------------------------------------------------------------------------

    def initialise_codebooks(self, z: torch.Tensor, iterations: int) -> None:
        """k-means on each block of the data, so training starts from used, data-shaped codes."""
        x = self.project(z).detach().numpy()
        self.scale.fill_(float(np.sqrt(np.mean(np.square(x)))))
        for level in range(x.shape[1]):
            kmeans = fit_kmeans(x[:, level], self.hparams.n_codes, iterations, self.hparams.seed + level)
            self.codebooks.data[level] = torch.from_numpy(kmeans.centroids)

    def training_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        (z,) = batch
        output = self(z)
        losses = self.losses(z, output)
        loss = losses.reconstruction + self.hparams.beta * losses.commitment
        counts = torch.zeros_like(self.usage).scatter_add_(
            1, output.codes.T, torch.ones_like(output.codes.T, dtype=self.usage.dtype))  # (L, J)
        optimiser = self.optimizers()
        optimiser.zero_grad()
        self.manual_backward(loss)
        if self.hparams.optimiser == Optimiser.NEWTON:
            curvature = 2 * (1 + self.hparams.beta) * counts / len(z)  # (L, J) exact diagonal Hessian
            self.codebooks.grad /= curvature.clamp(min=torch.finfo(curvature.dtype).tiny).unsqueeze(-1)
        optimiser.step()
        with torch.no_grad():
            self.usage += counts
            error = (output.projected - output.quantized).pow(2).sum(-1)  # (B, L)
            worst = error.topk(min(self.hparams.n_codes, len(z)), dim=0).indices  # (M, L), worst first
            self._worst = torch.stack([output.projected[worst[:, level], level]
                                       for level in range(error.shape[1])], dim=1)  # (M, L, k)
        self.log_dict({"train_loss": loss, "train_L_R": losses.reconstruction, "train_L_C": losses.commitment},
                      on_epoch=True, on_step=False)
        return loss

    def on_train_epoch_end(self) -> None:
        self._reset_dead_codes()
        self.usage.zero_()

    @torch.no_grad()
    def _reset_dead_codes(self) -> None:
        """Codes no training point chose this epoch move onto the points reconstructed worst."""
        if self._worst is None:
            return
        for level in range(self.codebooks.shape[0]):
            dead = torch.nonzero(self.usage[level] == 0).flatten()
            if len(dead):
                self.codebooks.data[level, dead] = self._worst[: len(dead), level]
        self.log("dead_codes_reset", float((self.usage == 0).sum()))

    def validation_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> None:
        (z,) = batch
        self.log("val_relative_error", relative_error(self, z), prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.hparams.optimiser == Optimiser.NEWTON:
            return torch.optim.SGD([self.codebooks], lr=self.hparams.lr)
        return torch.optim.Adam([self.codebooks], lr=self.hparams.lr * float(self.scale))


@dataclass(frozen=True)
class DQVAEConfig:
    n_codes: int = runtime(256)  # J, chosen per entity kind from quantize.user_codes / item_codes
    beta: float = 0.25
    optimiser: Optimiser = Optimiser.NEWTON
    lr: float = 1.0
    max_epochs: int = 50
    patience: int = 3
    min_delta: float = 2e-4  # held-out relative error gains below this do not count as improvement
    batch_size: int = 0  # 0: the whole training set in one batch
    init_iterations: int = 5
    holdout: float = 0.1
    seed: int = 2025
    progress: bool = runtime(True)


class FitResult(NamedTuple):
    model: DQVAE
    held_out_curve: list[float]  # held-out relative error: after k-means initialisation, then per epoch
    seconds: float


def relative_error(model: DQVAE, z: torch.Tensor) -> float:
    """‖ẑ - z‖² / ‖z - z̄‖² with z̄ the mean of these rows (as diagnostics.relative_error)."""
    with torch.no_grad():
        return float((model(z).reconstruction - z).pow(2).sum() / (z - z.mean(0)).pow(2).sum())


class _ShuffledIndexBatches(Sampler[torch.Tensor]):
    """Index tensors of shuffled batches, so a batch is gathered in one indexing op, not row by row."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(torch.randperm(self.n, generator=self.generator).split(self.batch_size))

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


def _batches(data: torch.Tensor, batch_size: int, seed: int) -> DataLoader:
    return DataLoader(TensorDataset(data), sampler=_ShuffledIndexBatches(len(data), batch_size, seed),
                      batch_size=None)


def holdout_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train rows, held-out rows) of n entities; the references train on the same rows as DQ-VAE."""
    order = np.random.default_rng(seed).permutation(n)
    n_held_out = max(1, int(round(share * n)))
    return np.sort(order[n_held_out:]), np.sort(order[:n_held_out])


def fit_dqvae(z: np.ndarray, mean: np.ndarray, bases: np.ndarray, config: DQVAEConfig,
              checkpoint: Path | None = None, trainer_config: TrainerConfig = DEFAULT_TRAINER) -> FitResult:
    """Train the codebooks on ``z`` (N, d) minus a seeded held-out share used for early stopping; write the
    kept (best) model as a Lightning checkpoint when ``checkpoint`` is given."""
    start = time.perf_counter()
    quiet_lightning()
    L.seed_everything(config.seed, workers=True, verbose=False)
    data = torch.as_tensor(z, dtype=torch.float32)
    train_rows, held_out_rows = holdout_split(len(data), config.holdout, config.seed)
    held_out, train = data[held_out_rows], data[train_rows]
    model = DQVAE.from_basis(mean, bases, config.n_codes, beta=config.beta, lr=config.lr,
                             optimiser=Optimiser(config.optimiser).value, seed=config.seed)
    model.initialise_codebooks(train, config.init_iterations)
    keep_best = KeepBest("val_relative_error", relative_error(model, held_out), model.state_dict())
    # One process: a full-batch step is Lloyd's algorithm on a few thousand rows; sharding gains nothing.
    trainer = build_trainer(trainer_config.single_process(), config.max_epochs,
                            [keep_best, EarlyStopping("val_relative_error", patience=config.patience, mode="min",
                                                      min_delta=config.min_delta)], config.progress)
    trainer.fit(model, _batches(train, config.batch_size or len(train), config.seed),
                _batches(held_out, len(held_out), config.seed))
    if checkpoint is not None:
        trainer.save_checkpoint(checkpoint, weights_only=True)
    return FitResult(model.eval(), keep_best.curve, time.perf_counter() - start)
