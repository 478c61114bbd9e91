"""Paired comparisons: the interval covers the true difference, the test is calibrated under no difference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dqrec.evaluate.paired import paired_comparison


def test_no_difference_gives_p_one_and_a_zero_interval() -> None:
    a = np.random.default_rng(0).random(300)
    result = paired_comparison(a, a.copy(), draws=2_000)
    assert (result.difference, result.ci_low, result.ci_high, result.p_value) == (0, 0, 0, 1)


def test_a_constant_gain_is_found_with_the_smallest_p_the_draws_allow() -> None:
    a = np.random.default_rng(1).random(200)
    result = paired_comparison(a, a + 0.1, draws=2_000)
    assert result.difference == pytest.approx(0.1) and result.relative == pytest.approx(0.1 / a.mean())
    assert result.ci_low == pytest.approx(0.1) and result.ci_high == pytest.approx(0.1)
    assert result.p_value == pytest.approx(1 / 2_001)


def test_the_sign_flip_p_matches_exact_enumeration_on_a_small_sample() -> None:
    differences = np.array([0.3, -0.1, 0.2, 0.25, -0.05, 0.1, 0.15, -0.2, 0.05, 0.12])
    signs = np.array(list(itertools.product([-1, 1], repeat=len(differences))))  # every one of 1,024 patterns
    exact = np.mean(np.abs((signs * differences).mean(1)) >= abs(differences.mean()) - 1e-12)
    result = paired_comparison(np.zeros_like(differences), differences, draws=20_000, seed=3)
    assert result.p_value == pytest.approx(exact, abs=0.01)


def test_under_no_difference_about_five_percent_of_tests_reject_at_five_percent() -> None:
    rng = np.random.default_rng(4)
    rejections = [paired_comparison(base := rng.random(80), base + rng.normal(0, 0.2, 80), draws=400,
                                    seed=seed).p_value < 0.05 for seed in range(300)]
    assert 0.02 <= np.mean(rejections) <= 0.09


def test_the_interval_covers_a_true_shift_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(5)
    covered = []
    for seed in range(200):
        a = rng.random(120)
        result = paired_comparison(a, a + 0.05 + rng.normal(0, 0.3, 120), draws=400, seed=seed)
        covered.append(result.ci_low <= 0.05 <= result.ci_high)
    assert 0.88 <= np.mean(covered) <= 0.99


def test_seeds_are_averaged_per_user_before_users_are_resampled() -> None:
    a = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])  # (seeds, users)
    b = a + np.array([[0.1, 0.0, 0.2], [0.1, 0.2, 0.0]])
    result = paired_comparison(a, b, draws=500)
    assert result.users == 3 and result.difference == pytest.approx(0.1)
    with pytest.raises(ValueError, match="one shape"):
        paired_comparison(a, b[:, :2])
