"""What one Locust process measures, shipped as small delta reports.

A worker sends a report with every Locust stats report (``report_to_master``); a single-process
run feeds its own reports to the aggregate once a second. Pure: no Locust import.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtests.report import latency
from loadtests.report.breakdown import TRANSPORT_ERROR, KeyedHistograms

# A user that claims an arrival more than this after its intended start found no free user.
LATE_CLAIM_S = 0.001
# A refusal (4xx) of a delivery we know to be odd (unknown topic) is a correct answer, not an error.
ACCEPTABLE_REFUSALS: frozenset[int] = frozenset({400, 404, 409, 422})


@dataclass
class Attempt:
    """One request as a user planned and sent it; Locust hands it back in the request context.

    Times are ``time.perf_counter()`` values. ``intended`` is the arrival's slot on the open-model
    schedule (None in closed mode); ``expected_interval`` the closed-model pacing interval.
    """

    intended: float | None = None
    claimed: float | None = None
    sent: float = 0.0
    expected_interval: float | None = None
    may_be_refused: bool = False
    retry: bool = False


def is_ack(status: int) -> bool:
    return 200 <= status < 300


class ProcessMeasurements:
    """Counters and histograms of one process since its last report, plus its live state."""

    def __init__(
        self, node: str, *, now: Callable[[], float] = time.perf_counter, epoch: Callable[[], float] = time.time
    ):
        self.node = node
        self._now = now
        self._epoch = epoch
        self.in_flight = 0
        self.exhausted = False
        self.sent_total = 0  # never reset by reports
        self._reset()

    def _reset(self) -> None:
        self.latency = latency.new_histogram()
        self.service = latency.new_histogram()
        self.start_lag = latency.new_histogram()
        self.wake_lag = latency.new_histogram()
        self.latency_max_s = 0.0
        self.seconds: dict[int, HdrHistogram] = {}
        self.others_by_second: Counter[int] = Counter()
        self.ack_by_key = KeyedHistograms()  # ack latency per "provider topic"
        self.answer_by_status = KeyedHistograms()  # latency of non-2xx answers per status
        self.status_by_second: dict[int, Counter[str]] = {}  # non-2xx answers and transport errors
        self.status: Counter[str] = Counter()
        self.transport_errors: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.acked_ids: list[str] = []
        self.cpu: list[list[float]] = []

    # --- recording ---------------------------------------------------------------------------

    def request_started(self, attempt: Attempt) -> None:
        self.in_flight += 1
        self.sent_total += 1
        self.counts["sent"] += 1
        if attempt.retry:
            self.counts["retries"] += 1
        if attempt.intended is None:
            return
        latency.record(self.start_lag, max(0.0, attempt.sent - attempt.intended))
        claimed = attempt.claimed if attempt.claimed is not None else attempt.sent
        if claimed <= attempt.intended:
            # The user was free and slept until the slot: any delay is the event loop waking late.
            latency.record(self.wake_lag, max(0.0, attempt.sent - attempt.intended))
        elif claimed - attempt.intended > LATE_CLAIM_S:
            self.counts["late_claims"] += 1

    def request_finished(
        self,
        attempt: Attempt,
        *,
        status: int,
        service_s: float,
        event_id: str | None = None,
        error: str | None = None,
        key: str | None = None,
    ) -> None:
        """One answer (or transport error); ``key`` names what was sent: ``"provider topic"``."""
        done = self._now()
        self.in_flight -= 1
        self.counts["completed"] += 1
        second = int(self._epoch())
        if is_ack(status):
            self._record_ack(attempt, service_s, done, second, key)
            self.counts["acks"] += 1
            if event_id:
                self.acked_ids.append(event_id)
            else:
                self.counts["acks_without_id"] += 1
        else:
            self.others_by_second[second] += 1
            self.status_by_second.setdefault(second, Counter())[str(status) if status else TRANSPORT_ERROR] += 1
            if status:
                self._record_keyed(self.answer_by_status, str(status), attempt, service_s, done)
            if attempt.may_be_refused and status in ACCEPTABLE_REFUSALS:
                self.counts["refused_as_expected"] += 1
            else:
                self.counts["errors"] += 1
        if status == 0:
            self.status["transport_error"] += 1
            self.transport_errors[error or "unknown"] += 1
        else:
            self.status[str(status)] += 1

    @staticmethod
    def _record_keyed(histograms: KeyedHistograms, key: str, attempt: Attempt, service_s: float, done: float) -> None:
        """On the ack latency's basis: from the intended start (open), corrected service time (closed)."""
        if attempt.intended is not None:
            histograms.record(key, max(service_s, done - attempt.intended))
        else:
            histograms.record_corrected(key, service_s, attempt.expected_interval)

    def _record_ack(self, attempt: Attempt, service_s: float, done: float, second: int, key: str | None) -> None:
        if key:
            self._record_keyed(self.ack_by_key, key, attempt, service_s, done)
        per_second = self.seconds.get(second)
        if per_second is None:
            per_second = self.seconds[second] = latency.new_histogram(latency.TIMELINE_DIGITS)
        latency.record(self.service, service_s)
        if attempt.intended is not None:
            value = max(service_s, done - attempt.intended)
            latency.record(self.latency, value)
            latency.record(per_second, value)
        else:
            value = service_s
            latency.record_corrected(self.latency, service_s, attempt.expected_interval)
            latency.record_corrected(per_second, service_s, attempt.expected_interval)
        self.latency_max_s = max(self.latency_max_s, value)

    def sample_cpu(self, percent: float) -> None:
        self.cpu.append([round(self._epoch(), 3), round(percent, 1)])

    # --- reporting ---------------------------------------------------------------------------

    def take_report(self) -> dict[str, Any]:
        """Everything since the last report (then forgotten), plus live state."""
        report = {
            "node": self.node,
            "latency": latency.encode(self.latency),
            "service": latency.encode(self.service),
            "start_lag": latency.encode(self.start_lag),
            "wake_lag": latency.encode(self.wake_lag),
            "latency_max_s": self.latency_max_s,
            "seconds": {str(s): latency.encode(h) for s, h in self.seconds.items()},
            "others_by_second": {str(s): n for s, n in self.others_by_second.items()},
            "ack_by_key": self.ack_by_key.encode(),
            "answer_by_status": self.answer_by_status.encode(),
            "status_by_second": {str(s): dict(c) for s, c in self.status_by_second.items()},
            "status": dict(self.status),
            "transport_errors": dict(self.transport_errors),
            "counts": dict(self.counts),
            "acked_ids": self.acked_ids,
            "cpu": self.cpu,
            "in_flight": self.in_flight,
            "exhausted": self.exhausted,
        }
        self._reset()
        return report
