from __future__ import annotations

import numpy as np
import pytest

from dqrec.quantize.diagnostics import collision_rate, perplexity, relative_error, utilisation


def test_utilisation_and_perplexity() -> None:
    codes = np.array([[0, 1], [1, 1], [2, 1], [3, 1]])

    assert utilisation(codes, 4).tolist() == [1.0, 0.25]
    assert perplexity(codes, 4) == pytest.approx([4.0, 1.0])  # uniform over 4, collapsed to one


def test_collision_rate_counts_every_entity_that_shares_its_full_id() -> None:
    codes = np.array([[0, 1], [0, 1], [0, 2], [3, 3], [3, 3], [3, 3]])

    assert collision_rate(codes) == pytest.approx(5 / 6)
    assert collision_rate(np.arange(10).reshape(5, 2)) == 0.0


def test_relative_error_is_zero_for_perfect_and_one_for_the_mean() -> None:
    z = np.random.default_rng(0).standard_normal((50, 4))

    assert relative_error(z, z) == 0.0
    assert relative_error(z, np.broadcast_to(z.mean(0), z.shape)) == pytest.approx(1.0)
