"""Paired comparisons of two variants over the same users: is B's mean per-user metric above A's beyond noise?

For per-user values a_u, b_u (the same users, the same split) the difference d_u = b_u - a_u is tested with:
- a paired bootstrap: resample users with replacement; the 2.5 and 97.5 percentiles of the resampled mean(d) are
  the 95 % interval of the mean difference;
- a paired sign-flip (randomisation) test: under "no difference" each d_u is as likely to be -d_u, so
  p = (1 + #{draws with |mean(s · d)| >= |mean(d)|}) / (1 + draws), s_u = ±1 at random (two-sided).
Over several seeds, a user's difference is first averaged over the seeds (seed s of A paired with seed s of B), so
that the users, not the seeds, are what is resampled.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

DRAWS = 10_000
CHUNK = 500  # draws per block: bounds memory at CHUNK x users


class PairedComparison(NamedTuple):
    users: int
    mean_a: float
    mean_b: float
    difference: float  # mean(b - a)
    relative: float  # difference / mean_a
    ci_low: float  # 95 % paired-bootstrap interval of the mean difference
    ci_high: float
    p_value: float  # two-sided paired sign-flip test


def _bootstrap_means(differences: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    means = []
    for start in range(0, draws, CHUNK):
        rows = rng.integers(0, len(differences), (min(CHUNK, draws - start), len(differences)))  # (C, U)
        means.append(differences[rows].mean(1))
    return np.concatenate(means)


def _sign_flip_p(differences: np.ndarray, draws: int, rng: np.random.Generator) -> float:
    observed = abs(differences.mean())
    extreme = 0
    for start in range(0, draws, CHUNK):
        signs = rng.integers(0, 2, (min(CHUNK, draws - start), len(differences))) * 2 - 1  # (C, U) of ±1
        # A tolerance: flips that reproduce the observed mean up to rounding count as "as extreme".
        extreme += int((np.abs((signs * differences).mean(1)) >= observed - 1e-12).sum())
    return (1 + extreme) / (1 + draws)


def paired_comparison(a: np.ndarray, b: np.ndarray, draws: int = DRAWS, seed: int = 0) -> PairedComparison:
    """B against A on per-user values ``a``, ``b`` (U,) or (S, U) (S seeds of the same U users)."""
    a, b = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a.shape != b.shape or a.shape[1] == 0:
        raise ValueError(f"paired values must have one shape with at least one user, got {a.shape} and {b.shape}")
    differences = (b - a).mean(0)  # (U,): each user's difference, averaged over seeds
    rng = np.random.default_rng(seed)
    low, high = np.percentile(_bootstrap_means(differences, draws, rng), [2.5, 97.5])
    mean_a, mean_b = float(a.mean()), float(b.mean())
    return PairedComparison(users=a.shape[1], mean_a=mean_a, mean_b=mean_b, difference=float(differences.mean()),
                            relative=float(differences.mean() / mean_a) if mean_a else float("nan"),
                            ci_low=float(low), ci_high=float(high),
                            p_value=_sign_flip_p(differences, draws, rng))
