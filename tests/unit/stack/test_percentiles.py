"""The one percentile definition: exact nearest rank on the recorded values."""

from __future__ import annotations

import pytest

from stack.percentiles import nearest_rank, percentile, percentiles


def test_nearest_rank_is_the_smallest_value_with_p_percent_at_or_below_it():
    values = [float(v) for v in range(100, 0, -1)]  # any order
    assert [percentile(values, p) for p in (0, 1, 50, 50.5, 99, 100)] == [1.0, 1.0, 50.0, 51.0, 99.0, 100.0]
    assert percentile([7.0], 99.9) == 7.0 and percentile([], 50) is None
    assert percentile([1.0, 2.0], 50) == 1.0  # a recorded value, never an interpolation or the upper median


def test_the_rank_is_exact_for_decimal_percentiles():
    # 99.9 % of 1000 is 999: float arithmetic (99.9 / 100 * 1000 = 999.0000000000001) would say 1000.
    assert nearest_rank(1000, 99.9) == 999 and nearest_rank(41000, 99.9) == 40959
    assert percentile(range(1, 1001), 99.9) == 999


def test_several_at_once_rounded_or_none():
    assert percentiles([1.23456, 2.0, 3.0], {"p50": 50, "max": 100}, digits=3) == {"p50": 2.0, "max": 3.0}
    assert percentiles([1.23456], {"p50": 50}) == {"p50": 1.23456}
    assert percentiles([], {"p50": 50, "p99": 99}) == {"p50": None, "p99": None}


@pytest.mark.parametrize("pct", [-1, 100.1])
def test_outside_0_to_100_is_an_error(pct):
    with pytest.raises(ValueError):
        percentile([1.0], pct)
