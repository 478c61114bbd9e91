"""Reference quantisers on the same data with the same L and J, each with faiss k-means and a
``train / encode / decode`` trio: product quantisation in DQ-VAE's blocks (its closed-form optimum), product
quantisation of the raw coordinates (no rotation), and residual k-means (RQ)."""

from __future__ import annotations

import faiss
import numpy as np

from dqrec.quantize.kmeans import fit_kmeans, nearest_centroid

KMEANS_ITERATIONS = 25  # faiss' own default for PQ training


def _kmeans(x: np.ndarray, n_codes: int, seed: int) -> faiss.Kmeans:
    return fit_kmeans(x, n_codes, KMEANS_ITERATIONS, seed)


def _assign(kmeans: faiss.Kmeans, x: np.ndarray) -> np.ndarray:
    return nearest_centroid(x, kmeans.centroids)


class BlockPQ:
    """Per-block k-means after an orthonormal projection: (z - z̄) W_l for each block l.

    With DQ-VAE's blocks this is DQ-VAE's optimum in closed form; with identity blocks of consecutive
    coordinates it is plain PQ without rotation.
    """

    def __init__(self, mean: np.ndarray, bases: np.ndarray, n_codes: int, seed: int = 0) -> None:
        self.mean, self.bases, self.n_codes, self.seed = mean, bases, n_codes, seed  # bases (L, d, k)
        self.codebooks: list[np.ndarray] = []  # L x (J, k)
        self._kmeans: list[faiss.Kmeans] = []

    def _project(self, z: np.ndarray) -> np.ndarray:  # (N, d) -> (N, L, k)
        return np.einsum("nd,ldk->nlk", z - self.mean, self.bases)

    def train(self, z: np.ndarray) -> BlockPQ:
        x = self._project(z)
        self._kmeans = [_kmeans(x[:, level], self.n_codes, self.seed + level) for level in range(x.shape[1])]
        self.codebooks = [k.centroids for k in self._kmeans]
        return self

    def encode(self, z: np.ndarray) -> np.ndarray:  # (N, L)
        x = self._project(z)
        return np.stack([_assign(k, x[:, level]) for level, k in enumerate(self._kmeans)], axis=1)

    def decode(self, codes: np.ndarray) -> np.ndarray:  # (N, d)
        quantized = np.stack([self.codebooks[level][codes[:, level]] for level in range(codes.shape[1])], axis=1)
        return np.einsum("nlk,ldk->nd", quantized, self.bases) + self.mean


def unrotated_bases(dim: int, n_blocks: int) -> np.ndarray:
    """(L, d, d/L) blocks of consecutive raw coordinates: PQ without rotation."""
    return np.eye(dim, dtype=np.float32).reshape(dim, n_blocks, dim // n_blocks).transpose(1, 0, 2)


class ResidualKMeans:
    """RQ: level l runs k-means on what levels 1..l-1 left unexplained, in the full d dimensions."""

    def __init__(self, n_levels: int, n_codes: int, seed: int = 0) -> None:
        self.n_levels, self.n_codes, self.seed = n_levels, n_codes, seed
        self.mean: np.ndarray | None = None
        self._kmeans: list[faiss.Kmeans] = []

    def train(self, z: np.ndarray) -> ResidualKMeans:
        self.mean = z.mean(axis=0)
        residual = (z - self.mean).astype(np.float32)
        self._kmeans = []
        for level in range(self.n_levels):
            kmeans = _kmeans(residual, self.n_codes, self.seed + level)
            residual = residual - kmeans.centroids[_assign(kmeans, residual)]
            self._kmeans.append(kmeans)
        return self

    def encode(self, z: np.ndarray) -> np.ndarray:
        residual = (z - self.mean).astype(np.float32)
        codes = []
        for kmeans in self._kmeans:
            code = _assign(kmeans, residual)
            residual = residual - kmeans.centroids[code]
            codes.append(code)
        return np.stack(codes, axis=1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.mean + sum(k.centroids[codes[:, level]] for level, k in enumerate(self._kmeans))
