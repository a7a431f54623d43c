"""The open-model arrival schedule: intended starts from a rate profile, split across processes."""

from __future__ import annotations

import math

import pytest

from loadtests.model.schedule import ArrivalSchedule, closed_interval, offered_timeline, planned_arrivals


def all_offsets(schedule: ArrivalSchedule) -> list[float]:
    return list(iter(schedule.next_offset, None))


def test_steady_rate_gives_evenly_spaced_slots():
    offsets = all_offsets(ArrivalSchedule(lambda t: 10.0, 2.0))
    assert len(offsets) == 20
    assert offsets == pytest.approx([k / 10 for k in range(20)])


def test_processes_split_one_schedule_exactly():
    def rate(t: float) -> float:
        return 5.0 if t < 3 else 50.0

    single = all_offsets(ArrivalSchedule(rate, 6.0))
    parts = [all_offsets(ArrivalSchedule(rate, 6.0, stride=3, offset=i)) for i in range(3)]
    assert sorted(x for part in parts for x in part) == pytest.approx(single)
    assert [len(p) for p in parts] == [len(single[i::3]) for i in range(3)]


def test_arrivals_per_second_follow_a_spike():
    def rate(t: float) -> float:
        return 20.0 if 2 <= t < 3 else 4.0

    offsets = all_offsets(ArrivalSchedule(rate, 5.0))
    edge = 1e-6  # an arrival due exactly on a second's edge may land a float's width before it
    per_second = [sum(1 for x in offsets if s - edge <= x < s + 1 - edge) for s in range(5)]
    assert per_second == [4, 4, 20, 4, 4]
    assert all(0 <= x < 5.0 for x in offsets)


def test_zero_rate_periods_are_skipped_and_the_end_is_respected():
    offsets = all_offsets(ArrivalSchedule(lambda t: 0.0 if t < 1 else 2.0, 3.0))
    assert offsets == pytest.approx([1.0, 1.5, 2.0, 2.5])


def test_peek_does_not_claim():
    schedule = ArrivalSchedule(lambda t: 1.0, 2.0)
    assert schedule.peek() == schedule.peek() == 0.0
    assert schedule.next_offset() == 0.0
    assert schedule.peek() == pytest.approx(1.0)
    assert schedule.next_offset() == pytest.approx(1.0)
    assert schedule.peek() is None and schedule.next_offset() is None
    assert schedule.claimed == 2


def test_count_matches_the_planned_integral():
    def rate(t: float) -> float:
        return 30 + 20 * math.sin(t)

    offsets = all_offsets(ArrivalSchedule(rate, 20.0))
    assert len(offsets) == math.ceil(planned_arrivals(rate, 20.0) - 1e-9)


def test_offered_timeline_and_closed_interval():
    timeline = offered_timeline(lambda t: 10.0 if t < 2 else 30.0, 4.0)
    assert [round(rate) for _, rate in timeline] == [10, 10, 30, 30]
    assert closed_interval(users=50, rate=100) == 0.5
    assert closed_interval(users=50, rate=0) is None


def test_invalid_partition():
    with pytest.raises(ValueError):
        ArrivalSchedule(lambda t: 1.0, 1.0, stride=2, offset=2)
