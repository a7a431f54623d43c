"""What one mapping's poller did: counters, what is in flight now, and a per-second course."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from stack.percentiles import percentiles

LATENCY_SAMPLES_KEPT = 5000
TIMELINE_SECONDS_KEPT = 3600
_SUMMARY = {"p50": 50, "p99": 99, "max": 100}


@dataclass
class MappingStats:
    receive_calls: int = 0
    empty_receives: int = 0
    receive_errors: int = 0
    batches: int = 0
    records: int = 0
    records_deleted: int = 0
    records_retried: int = 0  # left on the queue for SQS to redeliver (partial or whole-batch failure)
    delete_failures: int = 0
    batches_failed: Counter[str] = field(default_factory=Counter)  # whole-batch failures by cause
    in_flight_batches: int = 0
    peak_in_flight_batches: int = 0
    in_flight_groups: Counter[str] = field(default_factory=Counter)
    peak_in_flight_groups: int = 0
    poll_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES_KEPT))
    invoke_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES_KEPT))
    timeline: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=TIMELINE_SECONDS_KEPT))
    # Within the current second of the timeline:
    _second_batches_peak: int = 0
    _second_groups_peak: int = 0
    _second_records_done: int = 0

    def batch_started(self, groups: list[str]) -> None:
        self.batches += 1
        self.in_flight_batches += 1
        for group in groups:
            self.in_flight_groups[group] += 1
        self.peak_in_flight_batches = max(self.peak_in_flight_batches, self.in_flight_batches)
        self.peak_in_flight_groups = max(self.peak_in_flight_groups, len(self.in_flight_groups))
        self._second_batches_peak = max(self._second_batches_peak, self.in_flight_batches)
        self._second_groups_peak = max(self._second_groups_peak, len(self.in_flight_groups))

    def batch_finished(self, groups: list[str], deleted: int, retried: int) -> None:
        self.in_flight_batches -= 1
        for group in groups:
            self.in_flight_groups[group] -= 1
            if self.in_flight_groups[group] <= 0:
                del self.in_flight_groups[group]
        self.records_deleted += deleted
        self.records_retried += retried
        self._second_records_done += deleted

    def sample_second(self, receivers: int, now: float | None = None) -> None:
        """Close the current second of the timeline."""
        self.timeline.append(
            {
                "t": round(time.time() if now is None else now, 3),
                "in_flight_batches": self._second_batches_peak,
                "in_flight_groups": self._second_groups_peak,
                "records_deleted": self._second_records_done,
                "receivers": receivers,
            }
        )
        self._second_batches_peak = self.in_flight_batches
        self._second_groups_peak = len(self.in_flight_groups)
        self._second_records_done = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "receive_calls": self.receive_calls,
            "empty_receives": self.empty_receives,
            "receive_errors": self.receive_errors,
            "batches": self.batches,
            "records": self.records,
            "records_deleted": self.records_deleted,
            "records_retried": self.records_retried,
            "delete_failures": self.delete_failures,
            "batches_failed": dict(self.batches_failed),
            "in_flight_batches": self.in_flight_batches,
            "peak_in_flight_batches": self.peak_in_flight_batches,
            "in_flight_groups": len(self.in_flight_groups),
            "peak_in_flight_groups": self.peak_in_flight_groups,
            "poll_ms": percentiles(self.poll_ms, _SUMMARY, digits=2),
            "invoke_ms": percentiles(self.invoke_ms, _SUMMARY, digits=2),
            "timeline": list(self.timeline),
        }
