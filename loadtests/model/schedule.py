"""Open-model arrivals: the intended start time of every request, from a rate over time.

Arrival ``k`` (0-based, counted over the whole generator) is intended at the time ``t`` where
the offered count ``Λ(t) = ∫₀ᵗ rate`` reaches ``k``. The schedule never looks at response times:
when the target slows down, requests start late and their latency is measured from the intended
start, so the delay is counted instead of silently omitted (coordinated omission).

A process of a distributed run takes every ``stride``-th arrival starting at ``offset``; the
processes together offer exactly the single-process schedule.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

# The rate is held constant over slots this long; fine enough for a spike's edge at any rate.
SLOT_S = 0.01
_EPSILON = 1e-9  # float sums of slot counts: an arrival "at" the end belongs to no slot


class ArrivalSchedule:
    """Intended start offsets (seconds after the load's origin) of one process's arrivals."""

    def __init__(
        self,
        rate_at: Callable[[float], float],
        duration: float,
        *,
        stride: int = 1,
        offset: int = 0,
        slot: float = SLOT_S,
    ):
        if stride < 1 or not 0 <= offset < stride:
            raise ValueError(f"invalid partition offset={offset} stride={stride}")
        self._rate_at = rate_at
        self._duration = duration
        self._slot = slot
        self._stride = stride
        self._next_index = offset
        self._slot_index = 0  # an index, not a running sum: no float drift over long runs
        self._slot_count = 0.0  # Λ at the start of the current slot
        self._slot_rate = self._rate_in_slot(0)
        self._peeked: float | None = None
        self._has_peeked = False
        self.claimed = 0

    def _slot_bounds(self, index: int) -> tuple[float, float]:
        start = index * self._slot
        return start, min(start + self._slot, self._duration)

    def _rate_in_slot(self, index: int) -> float:
        start, end = self._slot_bounds(index)
        return max(0.0, float(self._rate_at((start + end) / 2)))

    def peek(self) -> float | None:
        """The next arrival's offset without claiming it (None: the schedule is over)."""
        if not self._has_peeked:
            self._peeked = self._compute_next()
            self._has_peeked = True
        return self._peeked

    def next_offset(self) -> float | None:
        """Claim this process's next arrival: its offset, or None once the schedule is over."""
        offset = self.peek()
        if offset is not None:
            self._has_peeked = False
            self._next_index += self._stride
            self.claimed += 1
        return offset

    def _compute_next(self) -> float | None:
        target = float(self._next_index)
        while True:
            start, end = self._slot_bounds(self._slot_index)
            if start >= self._duration:
                return None
            end_count = self._slot_count + self._slot_rate * (end - start)
            if end_count > target + _EPSILON:
                offset = start + (target - self._slot_count) / self._slot_rate
                return offset if offset < self._duration - _EPSILON else None
            self._slot_index += 1
            self._slot_count = end_count
            self._slot_rate = self._rate_in_slot(self._slot_index)


def _shifted(rate_at: Callable[[float], float], start: float, t: float) -> float:
    return rate_at(start + t)


def planned_arrivals(rate_at: Callable[[float], float], duration: float, *, slot: float = SLOT_S) -> float:
    """``Λ(duration)``: how many requests the schedule offers in total (all processes)."""
    total, index = 0.0, 0
    while index * slot < duration:
        start, end = index * slot, min((index + 1) * slot, duration)
        total += max(0.0, float(rate_at((start + end) / 2))) * (end - start)
        index += 1
    return total


def offered_timeline(rate_at: Callable[[float], float], duration: float, step: float = 1.0) -> list[list[float]]:
    """``[[t, requests offered in [t, t+step)/step], ...]`` for plots."""
    points: list[list[float]] = []
    for index in range(math.ceil(duration / step)):
        start = index * step
        length = min(step, duration - start)
        count = planned_arrivals(functools.partial(_shifted, rate_at, start), length)
        points.append([start, count / length])
    return points


def closed_interval(users: int, rate: float) -> float | None:
    """Closed model: the pause between one user's starts so ``users`` together offer ``rate``."""
    if rate <= 0:
        return None
    return users / rate
