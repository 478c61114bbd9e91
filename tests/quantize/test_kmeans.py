"""The shared faiss k-means."""

from __future__ import annotations

import numpy as np
import pytest

from dqrec.quantize.kmeans import fit_kmeans, nearest_centroid


def test_few_rows_per_code_train_quietly_and_each_row_maps_to_its_nearest_centroid(
        capfd: pytest.CaptureFixture[str]) -> None:
    x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)  # 12.5 rows per code, as `auto` allows

    kmeans = fit_kmeans(x, n_codes=16, iterations=5, seed=1)
    codes = nearest_centroid(x, kmeans.centroids)

    assert "WARNING" not in capfd.readouterr().err
    distances = ((x[:, None, :] - kmeans.centroids[None, :, :]) ** 2).sum(-1)  # (N, J)
    assert np.allclose(distances[np.arange(len(x)), codes], distances.min(axis=1), atol=1e-5)
