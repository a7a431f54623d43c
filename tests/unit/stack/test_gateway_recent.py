"""The gateway's window of recent answers: bounded in time and count, 2xx apart from the rest."""

from __future__ import annotations

from stack.embedded.gateway.recent import RecentAnswers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_acks_and_other_answers_are_reported_apart():
    clock = Clock()
    recent = RecentAnswers(window_s=10, clock=clock)
    for ms in range(1, 101):
        recent.record(202, float(ms))
    recent.record(401, 0.5)
    recent.record(502, 900.0)
    snapshot = recent.snapshot()
    assert snapshot["acks"] == {"count": 100, "p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}
    assert snapshot["others"] == {"count": 2, "p50_ms": 0.5, "p99_ms": 900.0, "max_ms": 900.0}
    assert snapshot["statuses"] == {"202": 100, "401": 1, "502": 1}
    assert snapshot["covered_s"] == snapshot["window_s"] == 10


def test_answers_older_than_the_window_are_forgotten():
    clock = Clock()
    recent = RecentAnswers(window_s=10, clock=clock)
    recent.record(202, 800.0)  # a cold start, long ago
    clock.now += 11
    recent.record(202, 5.0)
    snapshot = recent.snapshot()
    assert snapshot["acks"]["count"] == 1 and snapshot["acks"]["max_ms"] == 5.0
    clock.now += 11
    empty = recent.snapshot()
    assert empty["acks"] == {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    assert empty["statuses"] == {}


def test_at_the_sample_cap_the_figures_say_how_much_of_the_window_they_cover():
    clock = Clock()
    recent = RecentAnswers(window_s=10, max_samples=5, clock=clock)
    for _ in range(8):
        recent.record(202, 1.0)
        clock.now += 0.5
    snapshot = recent.snapshot()
    assert snapshot["acks"]["count"] == 5
    assert snapshot["covered_s"] == 2.5  # the oldest kept answer was recorded 2.5 s ago
