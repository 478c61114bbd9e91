from __future__ import annotations

import numpy as np
import pytest

from dqrec.cf import linkage
from dqrec.cf.linkage import sid_neighbours


def random_codes(seed: int, n: int = 300, levels: int = 4, n_codes: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_codes, size=(n, levels))


@pytest.mark.parametrize("min_shared", [1, 2, 3, 4])
def test_neighbours_share_enough_codes_and_exclude_the_entity_itself(min_shared: int) -> None:
    codes = random_codes(1)
    neighbours = sid_neighbours(codes, min_shared, max_neighbours=20, seed=0)

    for entity in range(len(codes)):
        found = neighbours.ids[entity, : neighbours.counts[entity]]
        assert entity not in found
        assert ((codes[found] == codes[entity]).sum(1) >= min_shared).all()
        assert (neighbours.ids[entity, neighbours.counts[entity] :] == -1).all()
        # Exhaustive when there are few: every qualifying entity is listed.
        qualifying = np.flatnonzero((codes == codes[entity]).sum(1) >= min_shared)
        qualifying = qualifying[qualifying != entity]
        if len(qualifying) <= 20:
            assert sorted(found.tolist()) == qualifying.tolist()


def test_sampling_is_seeded() -> None:
    codes = random_codes(2, n_codes=2)  # large buckets: sampling happens
    first = sid_neighbours(codes, 1, 5, seed=3)

    assert np.array_equal(first.ids, sid_neighbours(codes, 1, 5, seed=3).ids)
    assert not np.array_equal(first.ids, sid_neighbours(codes, 1, 5, seed=4).ids)


def test_min_shared_outside_the_sid_length_is_refused() -> None:
    with pytest.raises(ValueError, match=r"min_shared must lie in \[1, 4\]"):
        sid_neighbours(random_codes(0), 5, 3, seed=0)


def test_entities_with_many_candidates_draw_distinct_qualifying_neighbours_uniformly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Codes that agree on two levels (collisions): every entity shares >= 2 codes with all the others, and some
    # with 3 or 4, so that an entity lies in several of another's groups; the rejection path must not favour them.
    rng = np.random.default_rng(5)
    codes = np.c_[np.zeros((2000, 2), dtype=np.int64), rng.integers(0, 3, (2000, 2))]
    monkeypatch.setattr(linkage, "EXACT_CANDIDATES", 100)  # every entity takes the rejection path
    neighbours = sid_neighbours(codes, 2, max_neighbours=10, seed=0)

    assert (neighbours.counts == 10).all()
    for entity, found in enumerate(neighbours.ids):
        assert len(set(found)) == 10 and entity not in found
    # Over all draws, neighbours sharing 2, 3 and 4 codes come in the proportions the population has.
    shared = (codes[neighbours.ids] == codes[:, None, :]).sum(-1).ravel()  # (N * 10,)
    population = (codes[:, None, :] == codes[None, :, :]).sum(-1)  # (N, N)
    others = population[~np.eye(len(codes), dtype=bool)]
    expected = np.bincount(others, minlength=5)[2:] / len(others)
    np.testing.assert_allclose(np.bincount(shared, minlength=5)[2:] / len(shared), expected, atol=0.01)
    np.testing.assert_array_equal(neighbours.ids, sid_neighbours(codes, 2, max_neighbours=10, seed=0).ids)


def test_only_entities_over_the_bound_leave_the_exact_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = random_codes(3, n=400, n_codes=3)
    exact = sid_neighbours(codes, 2, 5, seed=1)
    monkeypatch.setattr(linkage, "EXACT_CANDIDATES", 10**9)

    np.testing.assert_array_equal(sid_neighbours(codes, 2, 5, seed=1).ids, exact.ids)
