"""The scale benchmark's arithmetic: sizes as people write them, and the growth exponent of a cost."""

from __future__ import annotations

import argparse

import pytest
from benchmarks.scale import growth_exponent, size_of


@pytest.mark.parametrize(("label", "size"), [("1M", 1_000_000), ("250k", 250_000), ("0.5M", 500_000),
                                             ("16m", 16_000_000), ("1200", 1200)])
def test_sizes_read_as_people_write_them(label: str, size: int) -> None:
    assert size_of(label) == size


def test_a_size_that_is_not_one_is_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected a size such as"):
        size_of("1G")


def test_the_growth_exponent_is_the_power_of_the_cost() -> None:
    sizes = [1_000_000, 4_000_000, 16_000_000]

    assert growth_exponent(sizes, [3.0 * n for n in sizes]) == pytest.approx(1.0)
    assert growth_exponent(sizes, [1e-9 * n**2 for n in sizes]) == pytest.approx(2.0)
    assert growth_exponent(sizes, [5.0, 5.0, 5.0]) == pytest.approx(0.0, abs=1e-12)
