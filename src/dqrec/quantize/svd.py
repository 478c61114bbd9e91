"""Centre-and-decompose of a representation matrix, and the regrouping of its right singular vectors into
L blocks of equal size carrying (as nearly as possible) equal variance (BRIEF §1, DQ-VAE steps 1-2).

Route: the d x d Gram matrix of the centred rows, accumulated in float64 chunk by chunk, then ``eigh``.
For a tall N x d matrix (d = 64) this is one pass over the data and d x d work; squaring the condition number
costs nothing at float64 precision unless the matrix's condition number exceeds about 1e6, and Householder QR
followed by the SVD of R measured about 6 times slower on 1,000,000 x 64 (benchmarks/quantize.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

CHUNK_ROWS = 65_536
# Pairwise swaps that refine the greedy assignment stop once no swap narrows the spread.
MAX_SWAP_ROUNDS = 1_000


@dataclass(frozen=True)
class SvdConfig:
    """params.yaml's ``svd`` section."""

    n_blocks: int = 4  # L: SID length; d / L dimensions per block

    def __post_init__(self) -> None:
        if self.n_blocks < 1:
            raise ValueError(f"n_blocks: expected at least 1, got {self.n_blocks}")


class SvdBasis(NamedTuple):
    mean: np.ndarray  # (d,) the row mean z̄
    components: np.ndarray  # (d, d) W: column m is the m-th right singular vector, by descending σ
    singular_values: np.ndarray  # (d,) σ, descending


class Blocks(NamedTuple):
    columns: np.ndarray  # (L, d/L) indices into the columns of W; each row is one block W_l
    variance: np.ndarray  # (L,) Σ σ_m² over each block's columns

    @property
    def shares(self) -> np.ndarray:
        return self.variance / self.variance.sum()

    @property
    def balance(self) -> float:
        """max / min block variance; 1.0 is perfect balance."""
        return float(self.variance.max() / self.variance.min())


def fit_svd(z: np.ndarray) -> SvdBasis:
    """SVD of the centred rows of ``z`` (N, d): Z - z̄ = V Σ Wᵀ; returns z̄, W and σ (V is not needed)."""
    n, d = z.shape
    if n < 2:
        raise ValueError(f"need at least 2 rows to centre and decompose, got {n}")
    mean = z.mean(axis=0, dtype=np.float64)
    gram = np.zeros((d, d), dtype=np.float64)
    for start in range(0, n, CHUNK_ROWS):
        chunk = z[start : start + CHUNK_ROWS].astype(np.float64) - mean  # (chunk, d)
        gram += chunk.T @ chunk
    eigenvalues, eigenvectors = np.linalg.eigh(gram)  # ascending
    order = np.argsort(eigenvalues)[::-1]
    components = eigenvectors[:, order]
    # A singular vector's sign is arbitrary; fix it so that reruns give identical bases.
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(d)])
    components = components * np.where(signs == 0, 1.0, signs)
    return SvdBasis(mean, components, np.sqrt(np.clip(eigenvalues[order], 0.0, None)))


def balanced_blocks(singular_values: np.ndarray, n_blocks: int) -> Blocks:
    """Assign the d columns to L blocks of d/L columns with block variances as equal as possible.

    Greedy (longest-processing-time): columns by descending σ², each to the non-full block with the smallest
    running variance; then pairwise swaps between the heaviest and the lightest block while a swap narrows
    their gap. A single column carrying more than 1/L of the variance makes perfect balance impossible.
    """
    d = len(singular_values)
    if n_blocks < 1 or d % n_blocks:
        raise ValueError(f"{d} dimensions cannot be split into {n_blocks} blocks of equal size")
    size = d // n_blocks
    variance = singular_values.astype(np.float64) ** 2
    members: list[list[int]] = [[] for _ in range(n_blocks)]
    totals = np.zeros(n_blocks)
    for column in np.argsort(-variance, kind="stable"):
        open_blocks = [b for b in range(n_blocks) if len(members[b]) < size]
        target = min(open_blocks, key=lambda b: (totals[b], b))
        members[target].append(int(column))
        totals[target] += variance[column]
    for _ in range(MAX_SWAP_ROUNDS):
        if not _swap_once(members, totals, variance):
            break
    columns = np.array([sorted(m, key=lambda c: -variance[c]) for m in members])
    order = np.argsort(-totals, kind="stable")  # block 1 carries the most variance
    return Blocks(columns[order], totals[order])


def _swap_once(members: list[list[int]], totals: np.ndarray, variance: np.ndarray) -> bool:
    heavy, light = int(totals.argmax()), int(totals.argmin())
    gap = totals[heavy] - totals[light]
    best, best_gap = None, gap
    for i in members[heavy]:
        for j in members[light]:
            moved = variance[i] - variance[j]
            if 0 < moved < gap and abs(gap - 2 * moved) < best_gap - 1e-12 * gap:
                best, best_gap = (i, j), abs(gap - 2 * moved)
    if best is None:
        return False
    i, j = best
    members[heavy][members[heavy].index(i)] = j
    members[light][members[light].index(j)] = i
    totals[heavy] -= variance[i] - variance[j]
    totals[light] += variance[i] - variance[j]
    return True


def block_bases(basis: SvdBasis, blocks: Blocks) -> np.ndarray:
    """The projection matrices W_l stacked: (L, d, d/L)."""
    return np.stack([basis.components[:, cols] for cols in blocks.columns])
