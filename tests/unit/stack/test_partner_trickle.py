"""The trickle API's rate limit (a token bucket on the request's own clock reading), its 429s, and
the window count a test checks the limit with."""

from __future__ import annotations

from stack.embedded.gateway.http_server import HttpRequest
from stack.partner.faults import FaultDecision, FaultSettings
from stack.partner.records import Moment, TrickleRecord, most_in_any_window
from stack.partner.trickle import RateLimiter, Trickle, retry_after_s

MS = 1_000_000  # ns
HEALTHY = FaultDecision(0.0, None, None, after_effect=False)


def _request(group: str, body: str) -> HttpRequest:
    headers = [("Host", "partner"), ("X-Group-Key", group)]
    return HttpRequest("POST", "/trickle/rows", "/trickle/rows", "", headers, body.encode(), "127.0.0.1", 1, "HTTP/1.1")


def _allowed(limiter: RateLimiter, settings: FaultSettings, times_ms: list[int]) -> list[int]:
    return [at for at in times_ms if limiter.allow(settings, at * MS)]


def test_no_limit_accepts_everything():
    assert _allowed(RateLimiter(), FaultSettings(), [0, 0, 0, 1]) == [0, 0, 0, 1]


def test_burst_one_spaces_accepted_requests_by_one_token_each():
    five_per_s = FaultSettings(rate_limit_per_s=5)  # one token per 200 ms
    assert _allowed(RateLimiter(), five_per_s, [0, 50, 100, 199, 200, 250, 400, 401, 1000]) == [0, 200, 400, 1000]


def test_a_burst_is_taken_at_once_then_the_rate_refills():
    settings = FaultSettings(rate_limit_per_s=10, burst=3)
    assert _allowed(RateLimiter(), settings, [0, 0, 0, 0, 50, 100, 150, 200]) == [0, 0, 0, 100, 200]


def test_a_new_limit_starts_a_full_bucket():
    limiter = RateLimiter()
    assert _allowed(limiter, FaultSettings(rate_limit_per_s=1), [0, 10]) == [0]
    assert _allowed(limiter, FaultSettings(rate_limit_per_s=1, burst=2), [20, 30, 40]) == [20, 30]


def test_retry_after_is_one_tokens_refill_in_whole_seconds():
    assert retry_after_s(5) == 1
    assert retry_after_s(1) == 1
    assert retry_after_s(0.25) == 4


def test_rejected_requests_get_429_and_are_not_recorded():
    trickle = Trickle()
    settings = FaultSettings(rate_limit_per_s=2)
    statuses = [
        trickle.serve(_request("g", str(n)), Moment(n * 100 * MS, 0), HEALTHY, settings).status for n in range(10)
    ]
    assert statuses == [200, 429, 429, 429, 429, 200, 429, 429, 429, 429]
    records = trickle.records()
    assert [r.body for r in records.accepted] == ["0", "5"] and records.rate_limited == 8


def test_429_carries_retry_after():
    trickle = Trickle()
    settings = FaultSettings(rate_limit_per_s=0.5)
    trickle.serve(_request("g", "a"), Moment(0, 0), HEALTHY, settings)
    refused = trickle.serve(_request("g", "b"), Moment(MS, 0), HEALTHY, settings)
    assert refused.status == 429 and ("Retry-After", "2") in refused.headers


def test_an_outage_answers_before_the_limiter_and_takes_no_token():
    trickle = Trickle()
    settings = FaultSettings(rate_limit_per_s=1)
    outage = FaultDecision(0.0, 503, "outage", after_effect=False)
    assert trickle.serve(_request("g", "a"), Moment(0, 0), outage, settings).status == 503
    assert trickle.serve(_request("g", "b"), Moment(MS, 0), HEALTHY, settings).status == 200
    assert trickle.records().failed == 1


def test_accepted_records_keep_arrival_order_per_group():
    trickle = Trickle()
    for n, group in enumerate(["a", "b", "a", "b", "a"]):
        trickle.serve(_request(group, f"{group}{n}"), Moment(n, 0), HEALTHY, FaultSettings())
    by_group = trickle.records().by_group()
    assert {g: [r.body for r in rs] for g, rs in by_group.items()} == {"a": ["a0", "a2", "a4"], "b": ["b1", "b3"]}


def _record(seq: int, at_ms: int) -> TrickleRecord:
    return TrickleRecord(
        seq=seq,
        at_ns=at_ms * MS,
        received_at=0,
        method="POST",
        path="/trickle/rows",
        group="",
        body="",
        status=200,
        rate_limit_per_s=None,
        burst=1,
    )


def test_most_in_any_window_counts_a_half_open_window():
    records = [_record(n, at) for n, at in enumerate([0, 200, 400, 600, 800, 1000])]
    assert most_in_any_window(records, 1.0) == 5  # 0 and 1000 are never in one window [t, t + 1 s)
    assert most_in_any_window([*records, _record(6, 1100)], 1.0) == 6  # [200, 1200) holds 6
    assert most_in_any_window([_record(n, 0) for n in range(4)], 1.0) == 4
    assert most_in_any_window([], 1.0) == 0
