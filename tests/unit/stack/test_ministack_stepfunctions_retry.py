"""The retry-wait patch, on MiniStack's own Step Functions module in this process (no server): its
Task and Parallel/Map retry loops run for real against a resource that fails a set number of
times, and every wait is read where it is slept (``time.sleep`` recorded; nothing really sleeps,
no timing is measured). Unpatched MiniStack ignores MaxDelaySeconds and JitterStrategy; patched, a
wait is capped at MaxDelaySeconds and, with FULL, drawn in [0, capped); without them it is
MiniStack's own, and ``_SFN_WAIT_SCALE`` still scales every wait."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
from ministack.services import stepfunctions

from stack.embedded.ministack.patches import PINNED_MINISTACK_VERSION
from stack.embedded.ministack.stepfunctions_patches import (
    LAMBDA_THROTTLE_ERROR,
    RETRY_WAIT_GLOBAL,
    RETRY_WAIT_PATCH,
    apply_retry_wait_patch,
    retry_wait_seconds,
)

UPSTREAM_EXECUTE_TASK = stepfunctions._execute_task
UPSTREAM_RETRY_AND_CATCH = stepfunctions._with_retry_and_catch
RESOURCE = "arn:aws:lambda:us-east-1:000000000000:function:steps"


class FixedDraws:
    """A random source that answers the given numbers in turn."""

    def __init__(self, *draws: float) -> None:
        self._draws: Iterator[float] = iter(draws)

    def random(self) -> float:
        return next(self._draws)


@pytest.fixture(autouse=True)
def _unpatched(monkeypatch):
    if getattr(UPSTREAM_EXECUTE_TASK, "hookstack_patch", None) or getattr(
        UPSTREAM_RETRY_AND_CATCH, "hookstack_patch", None
    ):
        pytest.fail("MiniStack was patched before these tests imported it")
    monkeypatch.setattr(stepfunctions, "_execute_task", UPSTREAM_EXECUTE_TASK)
    monkeypatch.setattr(stepfunctions, "_with_retry_and_catch", UPSTREAM_RETRY_AND_CATCH)
    monkeypatch.setattr(stepfunctions, RETRY_WAIT_GLOBAL, None, raising=False)  # removed again after the test
    monkeypatch.setattr(stepfunctions, "_SFN_WAIT_SCALE", 1.0)


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    """Every ``time.sleep`` argument, in order, instead of sleeping (MiniStack's ``_scaled_sleep``
    still runs: it decides whether and how long to sleep)."""
    recorded: list[float] = []
    monkeypatch.setattr(stepfunctions.time, "sleep", recorded.append)
    return recorded


def _failing(failures: int, error: str = LAMBDA_THROTTLE_ERROR) -> Callable[..., dict]:
    """A resource (or Parallel attempt) that fails ``failures`` times, then succeeds."""
    remaining = [failures]

    def attempt(*_: object) -> dict:
        if remaining[0] > 0:
            remaining[0] -= 1
            raise stepfunctions._ExecutionError(error, "Rate Exceeded.")
        return {"ok": True}

    return attempt


def _run_task(monkeypatch, retrier: dict, failures: int) -> dict:
    monkeypatch.setattr(stepfunctions, "_invoke_resource", _failing(failures))
    state = {"Type": "Task", "Resource": RESOURCE, "Retry": [retrier], "End": True}
    execution: dict = {"events": []}
    output, _ = stepfunctions._execute_task(state, {"n": 1}, execution, {"State": {"Name": "SaveInvoice"}})
    return output


def _throttle_retrier(**fields: object) -> dict:
    return {"ErrorEquals": [LAMBDA_THROTTLE_ERROR], **fields}


def test_unpatched_waits_ignore_max_delay_patched_they_are_capped_at_it(monkeypatch, slept):
    retrier = _throttle_retrier(IntervalSeconds=1, BackoffRate=2, MaxAttempts=7, MaxDelaySeconds=5)
    assert _run_task(monkeypatch, retrier, failures=7) == {"ok": True}
    assert slept == [1, 2, 4, 8, 16, 32, 60]  # MiniStack: the plain backoff, at most 60 s

    outcome = apply_retry_wait_patch()
    assert outcome.applied, outcome.describe()
    slept.clear()
    assert _run_task(monkeypatch, retrier, failures=7) == {"ok": True}
    assert slept == [1, 2, 4, 5, 5, 5, 5]
    assert apply_retry_wait_patch().detail == "already in place"


def test_full_jitter_draws_each_wait_below_the_capped_backoff(monkeypatch, slept):
    # The orchestration pattern's throttle retrier.
    retrier = _throttle_retrier(
        IntervalSeconds=1, BackoffRate=2.0, MaxAttempts=10, MaxDelaySeconds=10, JitterStrategy="FULL"
    )
    capped = [1, 2, 4, 8, 10, 10, 10, 10, 10, 10]
    seed = 20240601
    assert apply_retry_wait_patch(random_source=random.Random(seed)).applied
    assert _run_task(monkeypatch, retrier, failures=10) == {"ok": True}

    replica = random.Random(seed)
    assert slept == [cap * replica.random() for cap in capped]  # each the cap times its own draw
    assert all(0 <= wait < cap for wait, cap in zip(slept, capped, strict=True))


def test_full_jitter_spans_zero_to_just_below_the_cap(monkeypatch, slept):
    retrier = _throttle_retrier(
        IntervalSeconds=3, BackoffRate=2, MaxAttempts=3, MaxDelaySeconds=10, JitterStrategy="FULL"
    )
    below_one = 1 - 2**-53  # the largest draw random() can answer
    assert apply_retry_wait_patch(random_source=FixedDraws(0.0, 0.5, below_one)).applied
    _run_task(monkeypatch, retrier, failures=3)
    # _scaled_sleep skips a wait of 0; then 6 × 0.5, then just below the cap (12 capped to 10).
    assert slept == [3.0, 10 * below_one]
    assert slept[-1] < 10


@pytest.mark.parametrize(
    "retrier",
    [
        _throttle_retrier(),  # AWS's defaults: IntervalSeconds 1, BackoffRate 2.0, MaxAttempts 3
        _throttle_retrier(IntervalSeconds=20, BackoffRate=2, MaxAttempts=4, JitterStrategy="NONE"),
        _throttle_retrier(IntervalSeconds=2, BackoffRate=1.5, MaxAttempts=5),
    ],
    ids=["defaults", "none-past-ministack-ceiling", "fractional-rate"],
)
def test_without_max_delay_or_full_jitter_the_waits_are_ministack_s(monkeypatch, slept, retrier):
    attempts = retrier.get("MaxAttempts", 3)
    with pytest.raises(stepfunctions._ExecutionError) as unpatched_error:
        _run_task(monkeypatch, retrier, failures=attempts + 1)  # one more than it retries: it fails
    unpatched = list(slept)
    assert len(unpatched) == attempts

    assert apply_retry_wait_patch(random_source=FixedDraws()).applied  # a draw would raise
    slept.clear()
    with pytest.raises(stepfunctions._ExecutionError) as patched_error:
        _run_task(monkeypatch, retrier, failures=attempts + 1)
    assert slept == unpatched
    assert patched_error.value.error == unpatched_error.value.error == LAMBDA_THROTTLE_ERROR


def test_parallel_and_map_retries_are_capped_and_jittered_too(slept):
    retrier = {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 4, "MaxAttempts": 3, "MaxDelaySeconds": 6}
    state = {"Type": "Parallel", "Retry": [retrier], "End": True}
    assert stepfunctions._with_retry_and_catch(state, {}, {"State": {"Name": "P"}}, _failing(3)) == {"ok": True}
    assert slept == [4, 8, 16]

    assert apply_retry_wait_patch(random_source=FixedDraws(0.25, 0.25, 0.25)).applied
    slept.clear()
    stepfunctions._with_retry_and_catch(state, {}, {"State": {"Name": "P"}}, _failing(3))
    assert slept == [4, 6, 6]
    slept.clear()
    jittered = {"Type": "Map", "Retry": [{**retrier, "JitterStrategy": "FULL"}], "End": True}
    stepfunctions._with_retry_and_catch(jittered, {}, {"State": {"Name": "M"}}, _failing(3))
    assert slept == [1.0, 1.5, 1.5]


@pytest.mark.parametrize(("scale", "expected"), [(0, []), (0.5, [0.5, 1.0, 2.0, 2.5])])
def test_the_wait_scale_still_applies(monkeypatch, slept, scale, expected):
    assert apply_retry_wait_patch().applied
    monkeypatch.setattr(stepfunctions, "_SFN_WAIT_SCALE", scale)  # as POST /_ministack/config sets it
    retrier = _throttle_retrier(IntervalSeconds=1, BackoffRate=2, MaxAttempts=4, MaxDelaySeconds=5)
    assert _run_task(monkeypatch, retrier, failures=4) == {"ok": True}
    assert slept == expected


def test_retry_wait_seconds_caps_before_jitter_and_keeps_ministack_s_ceiling():
    no_draw = FixedDraws()
    assert retry_wait_seconds({"IntervalSeconds": 5, "BackoffRate": 3}, 2, no_draw) == 45
    assert retry_wait_seconds({"IntervalSeconds": 5, "BackoffRate": 3, "MaxDelaySeconds": 120}, 3, no_draw) == 60
    half = FixedDraws(0.5)
    assert retry_wait_seconds({"MaxDelaySeconds": 3, "JitterStrategy": "FULL"}, 4, half) == 1.5  # 16 → 3 → 1.5


def test_another_ministack_release_is_refused():
    outcome = apply_retry_wait_patch(installed_version="9.9.9")
    assert (outcome.name, outcome.applied) == (RETRY_WAIT_PATCH, False)
    assert PINNED_MINISTACK_VERSION in outcome.detail
    assert stepfunctions._execute_task is UPSTREAM_EXECUTE_TASK
    assert stepfunctions._with_retry_and_catch is UPSTREAM_RETRY_AND_CATCH


@pytest.mark.parametrize("name", ["_execute_task", "_with_retry_and_catch", "_scaled_sleep"])
def test_changed_ministack_source_is_refused(monkeypatch, name):
    def changed(*args, **kwargs):
        return None

    monkeypatch.setattr(stepfunctions, name, changed)
    outcome = apply_retry_wait_patch()
    assert not outcome.applied and name in outcome.detail
    assert getattr(stepfunctions, RETRY_WAIT_GLOBAL) is None  # nothing installed
    if name != "_execute_task":
        assert stepfunctions._execute_task is UPSTREAM_EXECUTE_TASK
