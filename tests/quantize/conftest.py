"""Representations for the quantiser tests: synthetic ones, and real ones from ml-100k's interactions."""

from __future__ import annotations

import numpy as np
import pytest

from dqrec.data.ingest import IngestConfig, ingest
from dqrec.data.split import SplitMethod, assign_splits
from tests.conftest import shared_dataset


@pytest.fixture(scope="session")
def ml100k_representations() -> dict[str, np.ndarray]:
    """Real representations, (943, 64) users and (1682, 64) items: the scaled singular vectors of ml-100k's
    train interactions."""
    dataset = ingest(shared_dataset("ml-100k"), IngestConfig("ml-100k"))
    train = dataset.interactions[assign_splits(dataset.interactions, SplitMethod.RATIO) == "train"]
    matrix = np.zeros((dataset.stats["users"], dataset.stats["items"]), dtype=np.float64)
    matrix[train["user_id"], train["item_id"]] = 1.0
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    return {"user": (u[:, :64] * s[:64]).astype(np.float32), "item": (vt[:64].T * s[:64]).astype(np.float32)}


@pytest.fixture(scope="session")
def ml100k_user_representations(ml100k_representations: dict[str, np.ndarray]) -> np.ndarray:
    return ml100k_representations["user"]


@pytest.fixture
def clustered() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, 32)) * 3
    return (centres[rng.integers(0, 40, 4_000)] + rng.standard_normal((4_000, 32)) * 0.3).astype(np.float32)
