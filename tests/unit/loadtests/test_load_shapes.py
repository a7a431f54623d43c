"""The load shapes: their rate profiles and the tick sequences Locust gets from them."""

from __future__ import annotations

import os

import pytest

# Importing Locust monkey-patches the interpreter with gevent; the shapes need none of it and the
# rest of the test session must not run patched.
_already = "LOCUST_SKIP_MONKEY_PATCH" in os.environ
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
try:
    from loadtests.locust.shapes import SHAPES, ArrivalShape, create_shape
finally:
    if not _already:
        os.environ.pop("LOCUST_SKIP_MONKEY_PATCH", None)

from loadtests.model.params import SCENARIOS, LoadParams, default_pool_users, lead_seconds, parse_duration  # noqa: E402 - after the Locust import above, which needs its guard first
from loadtests.model.schedule import planned_arrivals  # noqa: E402 - after the Locust import above, which needs its guard first


def ticks(shape: ArrivalShape, times: list[float], finished: bool = False) -> list[tuple[int, float] | None]:
    """``shape.tick()`` at given run times (seconds since the shape started, lead included)."""
    result = []
    shape.finished = lambda: finished
    for run_time in times:
        shape.get_run_time = lambda value=run_time: value  # type: ignore[method-assign]
        result.append(shape.tick())
    return result


def test_every_scenario_has_a_shape():
    assert set(SHAPES) == set(SCENARIOS)
    assert {"steady", "flash-sale", "black-friday", "retry-storm", "partner-jobs", "invoice-batch"} <= set(SHAPES)


def test_steady_open_model_keeps_one_pool_then_ends_when_drained():
    shape = create_shape(LoadParams(scenario="steady", rate=40, duration=30, users=25, tail=10))
    lead = shape.lead
    assert lead == 1.0
    sequence = ticks(shape, [0, lead + 5, lead + 29.9, lead + 30, lead + 39.9, lead + 40])
    assert sequence == [(25, 25.0)] * 5 + [None]  # in-flight requests keep users through the tail
    assert ticks(shape, [lead + 30], finished=True) == [None]  # nothing in flight: end at once


def test_default_pool_covers_the_peak_by_littles_law():
    shape = create_shape(LoadParams(scenario="flash-sale", rate=100, duration=60))
    assert shape.peak_rate() == 500
    assert shape.max_users() == default_pool_users(500) == 125
    assert shape.lead == lead_seconds(125) == 1.0
    assert ticks(shape, [0.5, 20, 40]) == [(125, 125.0)] * 3


def test_flash_sale_rate_quiet_spike_decay():
    shape = create_shape(LoadParams(scenario="flash-sale", rate=10, duration=100, peak=6))
    assert [shape.rate_at(t) for t in (0, 29.9)] == [10, 10]
    assert [shape.rate_at(t) for t in (30, 39.9)] == [60, 60]
    decay = [shape.rate_at(t) for t in (40, 50, 60, 80, 99)]
    assert decay[0] == pytest.approx(60)
    assert all(a > b for a, b in zip(decay, decay[1:], strict=False))
    assert decay[-1] < 10 * 1.1


def test_flash_sale_closed_model_ticks_follow_the_rate():
    shape = create_shape(LoadParams(scenario="flash-sale", rate=10, duration=100, peak=5, mode="closed", users=50))
    lead = shape.lead
    users = [tick[0] for tick in ticks(shape, [lead + t for t in (0, 29, 30, 39, 45, 60, 99)])]
    assert users[:4] == [10, 10, 50, 50]
    assert users[3] >= users[4] >= users[5] >= users[6] >= 10
    assert users[4] < 50


def test_black_friday_ramps_holds_and_eases_off():
    shape = create_shape(LoadParams(scenario="black-friday", rate=10, duration=100))  # default peak 4
    ramp = [shape.rate_at(t) for t in (0, 15, 30, 45, 59.9)]
    assert ramp[0] == 10 and all(a < b for a, b in zip(ramp, ramp[1:], strict=False))
    assert [shape.rate_at(t) for t in (60, 75, 89.9)] == [40, 40, 40]
    assert 10 < shape.rate_at(95) < 40
    closed = create_shape(LoadParams(scenario="black-friday", rate=10, duration=100, mode="closed"))
    users = [tick[0] for tick in ticks(closed, [closed.lead + t for t in (0, 30, 60, 99.9)])]
    assert users == sorted(users[:3]) + users[3:] and users[2] == 40  # peak: one user per request/s


def test_retry_storm_repeats_deliveries_only_during_the_storm():
    shape = create_shape(LoadParams(scenario="retry-storm", rate=20, duration=100))
    assert [shape.rate_at(t) for t in (10, 30, 69.9, 70)] == [20, 60, 60, 20]
    assert shape.retry_share_at(10) == 0.0
    assert shape.retry_share_at(50) == pytest.approx(2 / 3)  # the extra 2× is the provider's backlog
    assert shape.retry_share_at(80) == 0.0
    custom = create_shape(LoadParams(scenario="retry-storm", rate=20, duration=100, retry_share=0.25))
    assert custom.retry_share_at(50) == 0.25


def test_planned_arrivals_integrate_the_profile():
    steady = create_shape(LoadParams(scenario="steady", rate=20, duration=30))
    assert planned_arrivals(steady.rate_at, steady.duration) == pytest.approx(600)
    storm = create_shape(LoadParams(scenario="retry-storm", rate=20, duration=100))
    assert planned_arrivals(storm.rate_at, storm.duration) == pytest.approx(20 * 60 + 60 * 40)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("1h30m", 5400), ("250ms", 0.25), ("45", 45), ("1.5m", 90)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "0s", "-5", "s"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_params_reject_nonsense():
    for bad in (
        {"rate": 0},
        {"scenario": "cyber-monday"},
        {"mode": "half-open"},
        {"peak": 0.5},
        {"retry_share": 1.0},
        {"users": 0},
    ):
        with pytest.raises(ValueError):
            LoadParams(**bad)


@pytest.mark.parametrize("scenario", sorted(SHAPES))
@pytest.mark.parametrize("peak", [None, 2.5])
def test_the_peak_rate_the_cli_checks_is_the_shapes_highest_rate(scenario, peak):
    params = LoadParams(scenario=scenario, rate=12, duration=100, peak=peak)
    shape = create_shape(params)
    assert shape.peak_rate() == params.peak_rate()
    assert max(shape.rate_at(t / 10) for t in range(1000)) == pytest.approx(params.peak_rate())


def test_partner_jobs_bursts_four_times_at_the_peak_then_returns_to_the_base_rate():
    shape = create_shape(LoadParams(scenario="partner-jobs", rate=5, duration=100))
    assert [shape.rate_at(t) for t in (0, 4.9, 5, 24.9, 25, 30, 50, 75, 99)] == [20, 20, 5, 5, 20, 5, 20, 20, 5]
    # 20 % of the run at 4x, 80 % at 1x: 1.6x the base rate on average.
    assert planned_arrivals(shape.rate_at, shape.duration) == pytest.approx(5 * 100 * 1.6, rel=0.01)
    assert LoadParams(scenario="partner-jobs", rate=5).peak_rate() == 20


def test_the_peak_multiplier_sets_the_burst():
    shape = create_shape(LoadParams(scenario="partner-jobs", rate=2, duration=40, peak=10))
    assert shape.rate_at(0) == 20 and shape.rate_at(3) == 2
