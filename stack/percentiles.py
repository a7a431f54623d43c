"""Exact nearest-rank percentiles of recorded values: the one definition every report uses.

The p-th percentile of n values is the value of rank ⌈p/100 · n⌉ (counted from 1, in ascending
order; the rank clamped to 1..n): the smallest recorded value with at least p % of the values at
or below it. It is always a value that was recorded, never an interpolation. ``p`` counts as the
decimal it is written as (99.9 is 999/10, not the binary float nearest to it), so the rank is
exact: p99.9 of 1000 values is the 999th, where float arithmetic would give the 1000th.

HDR histograms (``loadtests.report.latency``) answer quantiles to their bucket precision: a
different thing, for the load generator's millions of values. This module is for lists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction


def nearest_rank(count: int, pct: float) -> int:
    """The 1-based rank of the ``pct``-th percentile among ``count`` values (``count`` ≥ 1)."""
    if not 0 <= pct <= 100:
        raise ValueError(f"a percentile is between 0 and 100, got {pct}")
    return min(count, max(1, math.ceil(Fraction(str(pct)) * count / 100)))


def _pick(ordered: Sequence[float], pct: float) -> float:
    return ordered[nearest_rank(len(ordered), pct) - 1]


def percentile(values: Iterable[float], pct: float) -> float | None:
    """The exact nearest-rank ``pct``-th percentile (0-100) of ``values``; None when there are none."""
    ordered = sorted(values)
    return _pick(ordered, pct) if ordered else None


def percentiles(
    values: Iterable[float], named: Mapping[str, float], *, digits: int | None = None
) -> dict[str, float | None]:
    """``{name: percentile}`` for each ``name: pct`` of ``named`` (one sort), rounded to ``digits``
    when given; every one None when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return {name: None for name in named}
    return {
        name: _pick(ordered, pct) if digits is None else round(_pick(ordered, pct), digits)
        for name, pct in named.items()
    }
