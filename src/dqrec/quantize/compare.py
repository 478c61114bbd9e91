"""Fit DQ-VAE and its references on the same entities, with the same L and J, and measure each."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from dqrec.configtree import nested
from dqrec.quantize.diagnostics import relative_error, summary
from dqrec.quantize.dqvae import DQVAE, DQVAEConfig, fit_dqvae, holdout_split
from dqrec.quantize.references import BlockPQ, ResidualKMeans, unrotated_bases
from dqrec.quantize.svd import Blocks, SvdBasis, block_bases
from dqrec.training import DEFAULT_TRAINER, TrainerConfig

MAX_CODES = 256
MIN_ENTITIES_PER_CODE = 8


@dataclass(frozen=True)
class QuantizeConfig:
    """params.yaml's ``quantize`` section: J per entity kind and how the DQ-VAE codebooks train."""

    user_codes: int | Literal["auto"] = "auto"
    item_codes: int | Literal["auto"] = "auto"
    dqvae: DQVAEConfig = nested(DQVAEConfig)

    def for_entity(self, entity: str, n_entities: int) -> DQVAEConfig:
        """The DQ-VAE config of one entity kind, with its J."""
        return replace(self.dqvae, n_codes=choose_n_codes(n_entities, getattr(self, f"{entity}_codes")))


def choose_n_codes(n_entities: int, requested: int | str) -> int:
    """J: as requested, or for "auto" the largest power of two up to 256 that leaves at least 8 entities per
    code on average; fewer and k-means starts fitting single points (dead codes, meaningless utilisation)."""
    if requested != "auto":
        return int(requested)
    n_codes = 2
    while n_codes * 2 <= MAX_CODES and n_codes * 2 * MIN_ENTITIES_PER_CODE <= n_entities:
        n_codes *= 2
    return n_codes


class Comparison(NamedTuple):
    model: DQVAE
    metrics: dict[str, Any]


def compare_quantisers(z: np.ndarray, basis: SvdBasis, blocks: Blocks, config: DQVAEConfig,
                       checkpoint: Path | None = None, trainer_config: TrainerConfig = DEFAULT_TRAINER) -> Comparison:
    """DQ-VAE against per-block k-means in its own blocks (its closed-form optimum), PQ without rotation and
    residual k-means; the references train on exactly DQ-VAE's training rows, all are scored on every entity
    and on the held-out ones."""
    bases = block_bases(basis, blocks)
    train_rows, held_out_rows = holdout_split(len(z), config.holdout, config.seed)
    fit = fit_dqvae(z, basis.mean, bases, config, checkpoint, trainer_config)
    dqvae_codes = fit.model.encode(torch.from_numpy(z)).numpy()
    metrics: dict[str, Any] = {
        "dqvae": _measure(z, dqvae_codes, fit.model.decode(torch.from_numpy(dqvae_codes)).numpy(), held_out_rows,
                          config.n_codes, fit.seconds)
        | {"epochs": len(fit.held_out_curve) - 1, "held_out_curve": fit.held_out_curve},
    }
    references = {
        "pq_same_blocks": BlockPQ(basis.mean, bases, config.n_codes, config.seed),
        "pq_no_rotation": BlockPQ(basis.mean, unrotated_bases(z.shape[1], len(blocks.columns)), config.n_codes,
                                  config.seed),
        "rq": ResidualKMeans(len(blocks.columns), config.n_codes, config.seed),
    }
    for name, quantiser in references.items():
        start = time.perf_counter()
        quantiser.train(z[train_rows])
        seconds = time.perf_counter() - start
        codes = quantiser.encode(z)
        metrics[name] = _measure(z, codes, quantiser.decode(codes), held_out_rows, config.n_codes, seconds)
    metrics["dqvae_over_pq_error"] = metrics["dqvae"]["relative_error"] / metrics["pq_same_blocks"]["relative_error"]
    metrics["dqvae_over_pq_seconds"] = metrics["dqvae"]["seconds"] / metrics["pq_same_blocks"]["seconds"]
    return Comparison(fit.model, metrics)


def _measure(z: np.ndarray, codes: np.ndarray, reconstruction: np.ndarray, held_out: np.ndarray, n_codes: int,
             seconds: float) -> dict[str, Any]:
    return summary(z, codes, reconstruction, n_codes) | {
        "held_out_relative_error": relative_error(z[held_out], reconstruction[held_out]),
        "seconds": seconds,
    }
