"""Codebook diagnostics: how many codes are used, how evenly, how often full IDs collide, how well IDs
reconstruct. One function per figure, each on plain arrays."""

from __future__ import annotations

from typing import Any

import numpy as np


def utilisation(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """(L,) share of the J codes of each level that at least one entity uses."""
    return np.array([len(np.unique(codes[:, level])) / n_codes for level in range(codes.shape[1])])


def perplexity(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """(L,) exp of the entropy of each level's code distribution: J when uniform, 1 when collapsed."""
    result = []
    for level in range(codes.shape[1]):
        p = np.bincount(codes[:, level], minlength=n_codes) / len(codes)
        p = p[p > 0]
        result.append(float(np.exp(-(p * np.log(p)).sum())))
    return np.array(result)


def collision_rate(codes: np.ndarray) -> float:
    """Share of entities whose full semantic ID (c_1, ..., c_L) is shared with at least one other entity."""
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return float((counts[inverse.ravel()] > 1).mean())


def relative_error(z: np.ndarray, reconstruction: np.ndarray) -> float:
    """‖ẑ - z‖² / ‖z - z̄‖² over all entities: 0 is perfect, 1 is no better than the mean."""
    centred = z - z.mean(axis=0, dtype=np.float64)
    return float(np.square(reconstruction.astype(np.float64) - z).sum() / np.square(centred).sum())


def code_usage(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """(L, J) how many entities use each code."""
    return np.stack([np.bincount(codes[:, level], minlength=n_codes) for level in range(codes.shape[1])])


def summary(z: np.ndarray, codes: np.ndarray, reconstruction: np.ndarray, n_codes: int) -> dict[str, Any]:
    used = utilisation(codes, n_codes)
    perp = perplexity(codes, n_codes)
    return {
        "relative_error": relative_error(z, reconstruction),
        "collision_rate": collision_rate(codes),
        "utilisation_min": float(used.min()),
        "utilisation": [float(u) for u in used],
        "perplexity": [float(p) for p in perp],
        "unique_ids": int(len(np.unique(codes, axis=0))),
    }
