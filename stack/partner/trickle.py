"""A rate-limited partner API receiving CDC data: ``POST|PUT|PATCH|DELETE /trickle/{anything}``.

``rate_limit_per_s`` and ``burst`` (the trickle API's faults) drive a token bucket, the gateway's
own (``stack/embedded/gateway/throttling.py``): ``burst`` tokens at most, refilled at the rate. A
request finding no token is answered 429 with ``Retry-After`` (whole seconds, at most the time one
token takes to refill, at least 1) and not recorded. Every request accepted is recorded in order
of acceptance, with its group key (the ``X-Group-Key`` header) and the limit then in force, so a
test can check per-group order and count what was accepted in any window
(``records.most_in_any_window``: at most ``burst + rate_limit_per_s * window_s``). An outage
answers before the limiter; an injected error after it (the request took a token).
"""

from __future__ import annotations

import math

from stack.embedded.gateway.http_server import HttpRequest, HttpResponse, error_response
from stack.embedded.gateway.throttling import ThrottleLimits, TokenBucket
from stack.partner.answers import body_text, failure_response, json_response
from stack.partner.faults import FaultDecision, FaultSettings
from stack.partner.records import Moment, RecordLog, TrickleRecord, TrickleRecords

GROUP_HEADER = "X-Group-Key"
TRICKLE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def retry_after_s(rate_limit_per_s: float) -> int:
    """Whole seconds to wait after a 429: one token's refill time, rounded up, at least 1."""
    return max(1, math.ceil(1 / rate_limit_per_s))


class RateLimiter:
    """The bucket for the limits in force; a new (full) bucket whenever they change. It reads the
    time of the request being decided, so the records and the bucket share one clock reading."""

    def __init__(self) -> None:
        self._limits: ThrottleLimits | None = None
        self._bucket: TokenBucket | None = None
        self._now_s = 0.0

    def allow(self, settings: FaultSettings, at_ns: int) -> bool:
        self._now_s = at_ns / 1e9
        if settings.rate_limit_per_s is None:
            self._limits = self._bucket = None
            return True
        limits = ThrottleLimits(settings.rate_limit_per_s, settings.burst)
        if limits != self._limits or self._bucket is None:
            self._limits = limits
            self._bucket = TokenBucket(limits, clock=lambda: self._now_s)
        return self._bucket.take()


class Trickle:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.log: RecordLog[TrickleRecord] = RecordLog()
        self.limiter = RateLimiter()
        self.rate_limited = 0
        self.failed = 0

    def serve(
        self, request: HttpRequest, moment: Moment, decision: FaultDecision, settings: FaultSettings
    ) -> HttpResponse:
        if decision.cause == "outage":
            self.failed += 1
            return failure_response(decision)
        if not self.limiter.allow(settings, moment.at_ns):
            self.rate_limited += 1
            assert settings.rate_limit_per_s is not None
            retry_after = str(retry_after_s(settings.rate_limit_per_s))
            return error_response(429, "Too Many Requests", (("Retry-After", retry_after),))
        if decision.fails_before_effect:
            self.failed += 1
            return failure_response(decision)
        response = failure_response(decision) if decision.fails_after_effect else json_response(200, {"accepted": True})
        if decision.fails_after_effect:
            self.failed += 1
        self.log.append(
            TrickleRecord(
                seq=self.log.next_seq(),
                at_ns=moment.at_ns,
                received_at=moment.received_at,
                method=request.method,
                path=request.path,
                group=request.header(GROUP_HEADER) or "",
                body=body_text(request),
                status=response.status,
                rate_limit_per_s=settings.rate_limit_per_s,
                burst=settings.burst,
            )
        )
        return response

    def records(self) -> TrickleRecords:
        return TrickleRecords(
            accepted=list(self.log), rate_limited=self.rate_limited, failed=self.failed, dropped=self.log.dropped
        )
