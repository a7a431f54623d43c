"""Stage throttling: token buckets from a stage's method settings."""

from __future__ import annotations

from stack.embedded.gateway.throttling import (
    ACCOUNT_LIMITS,
    StageThrottle,
    ThrottleLimits,
    TokenBucket,
    limits_from_method_settings,
    method_setting_key,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_starts_full_and_refills_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(ThrottleLimits(rate=2, burst=3), clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.25  # half a token
    assert bucket.take() is False
    clock.now += 0.25  # the other half
    assert bucket.take() is True
    clock.now += 100  # refill caps at the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_zero_burst_refuses_everything() -> None:
    bucket = TokenBucket(ThrottleLimits(rate=100, burst=0), FakeClock())
    assert bucket.take() is False


def test_method_settings_parsing() -> None:
    limits = limits_from_method_settings(
        {
            "*/*": {"throttlingRateLimit": 1.0, "throttlingBurstLimit": 2, "metricsEnabled": False},
            "~1webhooks~1{provider}/POST": {"throttlingRateLimit": 50.0, "throttlingBurstLimit": 100},
            "/events/{id}/GET": {"throttlingBurstLimit": 7},
            "other/GET": {"metricsEnabled": True},
        }
    )
    assert limits == {
        "*/*": ThrottleLimits(1.0, 2),
        "webhooks/{provider}/POST": ThrottleLimits(50.0, 100),
        "events/{id}/GET": ThrottleLimits(ACCOUNT_LIMITS.rate, 7),
    }
    assert method_setting_key("/webhooks/{provider}", "post") == "webhooks/{provider}/POST"


def test_stage_throttle_per_method_buckets_and_override() -> None:
    clock = FakeClock()
    throttle = StageThrottle({"*/*": ThrottleLimits(1, 1), "webhooks/{provider}/POST": ThrottleLimits(1, 3)}, clock)
    # */* gives every method its own bucket of one.
    assert throttle.allow("/events/{id}", "GET") is True
    assert throttle.allow("/events/{id}", "GET") is False
    assert throttle.allow("/other", "GET") is True
    # The method setting overrides */*.
    assert [throttle.allow("/webhooks/{provider}", "POST") for _ in range(4)] == [True, True, True, False]


def test_without_settings_only_the_account_limit_applies() -> None:
    throttle = StageThrottle({}, FakeClock())
    assert throttle.limits_for("/x", "GET") is None
    results = [throttle.allow("/x", "GET") for _ in range(ACCOUNT_LIMITS.burst + 1)]
    assert results.count(True) == ACCOUNT_LIMITS.burst
    assert results[-1] is False
