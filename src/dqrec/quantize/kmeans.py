"""The one k-means every quantiser here uses (faiss), so DQ-VAE's start and its references cannot drift apart."""

from __future__ import annotations

import faiss
import numpy as np


def fit_kmeans(x: np.ndarray, n_codes: int, iterations: int, seed: int) -> faiss.Kmeans:
    """k-means of the rows of ``x`` (N, k) into ``n_codes`` centroids; all rows are used (no subsampling)."""
    # min_points_per_centroid only gates faiss's "please provide at least ..." warning, printed once per block and
    # run; the `auto` codebook size already leaves at least 8 rows per code, so the warning says nothing new.
    kmeans = faiss.Kmeans(x.shape[1], n_codes, niter=iterations, seed=seed, min_points_per_centroid=1,
                          max_points_per_centroid=1_000_000)
    kmeans.train(np.ascontiguousarray(x, dtype=np.float32))
    return kmeans


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(N,) index of each row's nearest centroid, by exact L2 search."""
    return faiss.knn(np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(centroids), 1)[1][:, 0]
