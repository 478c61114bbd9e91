"""SVD basis and balanced blocks: exact against numpy's SVD, orthonormal, reproducible, balanced."""

from __future__ import annotations

import numpy as np
import pytest

from dqrec.quantize.svd import balanced_blocks, block_bases, fit_svd


def correlated(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 3.0).astype(np.float32)


def test_matches_numpy_svd_of_the_centred_matrix() -> None:
    z = correlated(5_000, 32)
    basis = fit_svd(z)
    _, sigma, wt = np.linalg.svd(z.astype(np.float64) - z.mean(0, dtype=np.float64), full_matrices=False)

    np.testing.assert_allclose(basis.singular_values, sigma, rtol=1e-9)
    # Same subspaces: each column equals numpy's up to sign.
    np.testing.assert_allclose(np.abs(np.sum(basis.components * wt.T, axis=0)), 1.0, atol=1e-8)
    np.testing.assert_allclose(basis.components.T @ basis.components, np.eye(32), atol=1e-12)


def test_chunked_accumulation_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    z = correlated(3_000, 16)
    whole = fit_svd(z)
    monkeypatch.setattr("dqrec.quantize.svd.CHUNK_ROWS", 7)
    chunked = fit_svd(z)

    np.testing.assert_allclose(chunked.singular_values, whole.singular_values, rtol=1e-10)
    np.testing.assert_allclose(chunked.components, whole.components, atol=1e-9)  # signs fixed identically


@pytest.mark.parametrize("n_blocks", [1, 2, 4, 8])
def test_blocks_partition_the_columns_into_equal_sizes(n_blocks: int) -> None:
    sigma = np.sort(np.random.default_rng(1).gamma(1.0, size=64))[::-1]
    blocks = balanced_blocks(sigma, n_blocks)

    assert blocks.columns.shape == (n_blocks, 64 // n_blocks)
    assert sorted(blocks.columns.ravel().tolist()) == list(range(64))
    np.testing.assert_allclose(blocks.variance, [(sigma[c] ** 2).sum() for c in blocks.columns])
    assert (np.diff(blocks.variance) <= 0).all()  # block 1 carries the most


def test_balance_beats_contiguous_blocks_and_is_near_perfect_for_a_smooth_spectrum() -> None:
    sigma = np.linspace(3.0, 0.5, 64)
    blocks = balanced_blocks(sigma, 4)
    contiguous = (sigma**2).reshape(4, 16).sum(1)

    assert blocks.balance < 1.001
    assert contiguous.max() / contiguous.min() > 5


def test_a_dominant_direction_bounds_what_balance_can_reach() -> None:
    sigma = np.array([10.0] + [1.0] * 15)  # one column carries 100 of 115 units of variance
    blocks = balanced_blocks(sigma, 4)

    assert blocks.variance[0] == pytest.approx(100.0 + 3.0)  # the dominant column plus the 3 smallest
    assert blocks.variance[1:].tolist() == [4.0, 4.0, 4.0]


def test_wrong_block_count_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be split into 3 blocks"):
        balanced_blocks(np.ones(64), 3)


def test_block_bases_project_and_reconstruct_exactly() -> None:
    z = correlated(2_000, 16)
    basis = fit_svd(z)
    blocks = balanced_blocks(basis.singular_values, 4)
    w = block_bases(basis, blocks)  # (L, d, d/L)
    centred = z - basis.mean
    x = np.einsum("nd,ldk->nlk", centred, w)  # (N, L, d/L)

    np.testing.assert_allclose(np.einsum("nlk,ldk->nd", x, w), centred, atol=1e-4)
