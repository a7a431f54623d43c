"""Stage throttling: one token bucket per method, as API Gateway applies stage method settings.

A stage's ``methodSettings`` carry ``throttlingRateLimit`` (tokens per second) and
``throttlingBurstLimit`` (bucket size) under ``*/*`` (every method) or under a method key
(``~1webhooks~1{provider}/POST``); a method key overrides ``*/*``. Each method gets its
own bucket. Every request also takes a token from the account-level bucket (10,000 rps,
burst 5,000), shared by all methods; a method without any setting is limited by that alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ACCOUNT_RATE_LIMIT = 10_000.0
ACCOUNT_BURST_LIMIT = 5_000


@dataclass(frozen=True, slots=True)
class ThrottleLimits:
    rate: float
    burst: int


ACCOUNT_LIMITS = ThrottleLimits(ACCOUNT_RATE_LIMIT, ACCOUNT_BURST_LIMIT)


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` per second; a request takes one."""

    __slots__ = ("rate", "capacity", "_tokens", "_last", "_clock")

    def __init__(self, limits: ThrottleLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = max(float(limits.rate), 0.0)
        self.capacity = max(float(limits.burst), 0.0)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        elapsed = now - self._last
        self._last = now
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def method_setting_key(resource_path: str, http_method: str) -> str:
    """The canonical ``{path}/{VERB}`` key: leading slash dropped, ``~1`` decoded to ``/``."""
    return f"{resource_path.replace('~1', '/').strip('/')}/{http_method.upper()}"


def limits_from_method_settings(method_settings: Mapping[str, Any] | None) -> dict[str, ThrottleLimits]:
    """Stage ``methodSettings`` → limits by canonical method key (``*/*`` kept as is)."""
    limits: dict[str, ThrottleLimits] = {}
    for key, setting in (method_settings or {}).items():
        if not isinstance(setting, Mapping):
            continue
        rate = setting.get("throttlingRateLimit")
        burst = setting.get("throttlingBurstLimit")
        if rate is None and burst is None:
            continue
        if key == "*/*":
            canonical = "*/*"
        else:
            path, _, verb = key.rpartition("/")
            canonical = method_setting_key(path, verb)
        limits[canonical] = ThrottleLimits(
            rate=float(rate if rate is not None else ACCOUNT_RATE_LIMIT),
            burst=int(burst if burst is not None else ACCOUNT_BURST_LIMIT),
        )
    return limits


class StageThrottle:
    """Buckets for every method of one stage, created on first use."""

    def __init__(self, limits: Mapping[str, ThrottleLimits], clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = dict(limits)
        self._clock = clock
        self._account = TokenBucket(ACCOUNT_LIMITS, clock)
        self._buckets: dict[tuple[str, str], TokenBucket | None] = {}

    def limits_for(self, resource_path: str, http_method: str) -> ThrottleLimits | None:
        """The stage limits of one method, None when only the account limit applies."""
        key = method_setting_key(resource_path, http_method)
        return self._limits.get(key) or self._limits.get("*/*")

    def allow(self, resource_path: str, http_method: str) -> bool:
        slot = (resource_path, http_method)
        try:
            bucket = self._buckets[slot]
        except KeyError:
            limits = self.limits_for(resource_path, http_method)
            bucket = self._buckets[slot] = TokenBucket(limits, self._clock) if limits else None
        if bucket is not None and not bucket.take():
            return False
        return self._account.take()
