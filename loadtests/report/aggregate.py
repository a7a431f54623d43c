"""The whole run, merged from every process's reports (on the master or the single process).

HDR histograms merge exactly, so percentiles over several processes are as exact as over one.
Per-second histograms are kept until every process has reported that second, then reduced to
a summary row for the latency-over-time plot. Pure: no Locust import.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtests.report import latency
from loadtests.report.breakdown import KeyedHistograms, add_status_seconds

# Workers report every second; a second older than this has been reported by everyone.
SEAL_AFTER_S = 10


class RunAggregate:
    def __init__(self) -> None:
        self.latency = latency.new_histogram()
        self.service = latency.new_histogram()
        self.start_lag = latency.new_histogram()
        self.wake_lag = latency.new_histogram()
        self.latency_max_s = 0.0
        self._open_seconds: dict[int, HdrHistogram] = {}
        self.timeline: dict[int, dict[str, Any]] = {}
        self.others_by_second: Counter[int] = Counter()
        self.ack_by_key = KeyedHistograms()
        self.answer_by_status = KeyedHistograms()
        self.status_by_second: dict[int, Counter[str]] = {}
        self.status: Counter[str] = Counter()
        self.transport_errors: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self.acked_ids: set[str] = set()
        self.cpu: dict[str, list[list[float]]] = {}
        self.live: dict[str, tuple[int, bool]] = {}

    def add(self, report: dict[str, Any]) -> None:
        node = report["node"]
        for name in ("latency", "service", "start_lag", "wake_lag"):
            if report.get(name):
                getattr(self, name).add(latency.decode(report[name]))
        self.latency_max_s = max(self.latency_max_s, report.get("latency_max_s", 0.0))
        for second, encoded in report.get("seconds", {}).items():
            if not encoded:
                continue
            key = int(second)
            histogram = self._open_seconds.get(key)
            if histogram is None:
                histogram = self._open_seconds[key] = latency.new_histogram(latency.TIMELINE_DIGITS)
            histogram.add(latency.decode(encoded))
        for second, count in report.get("others_by_second", {}).items():
            self.others_by_second[int(second)] += count
        self.ack_by_key.add_encoded(report.get("ack_by_key", {}))
        self.answer_by_status.add_encoded(report.get("answer_by_status", {}))
        add_status_seconds(self.status_by_second, report.get("status_by_second", {}))
        self.status.update(report.get("status", {}))
        self.transport_errors.update(report.get("transport_errors", {}))
        self.counts.update(report.get("counts", {}))
        self.acked_ids.update(report.get("acked_ids", ()))
        self.cpu.setdefault(node, []).extend(report.get("cpu", ()))
        if report.get("generates", True):  # the master of a distributed run sends no requests
            self.live[node] = (report.get("in_flight", 0), bool(report.get("exhausted", False)))

    def seal(self, before_second: int | None = None) -> None:
        """Reduce per-second histograms older than ``before_second`` (all when None) to rows."""
        for second in sorted(self._open_seconds):
            if before_second is not None and second >= before_second:
                break
            histogram = self._open_seconds.pop(second)
            row = latency.summarize(histogram)
            self.timeline[second] = {
                "t": second,
                "acks": row["count"],
                "p50_ms": row["p50_ms"],
                "p90_ms": row["p90_ms"],
                "p99_ms": row["p99_ms"],
                "max_ms": row["max_ms"],
            }

    def seal_old(self, now: float | None = None) -> None:
        self.seal(int(now if now is not None else time.time()) - SEAL_AFTER_S)

    def drained(self, nodes: int) -> bool:
        """Every one of ``nodes`` processes finished its schedule and has nothing in flight."""
        if len(self.live) < nodes:
            return False
        return all(exhausted and in_flight <= 0 for in_flight, exhausted in self.live.values())

    @property
    def in_flight(self) -> int:
        return sum(in_flight for in_flight, _ in self.live.values())

    def progress(self) -> dict[str, Any]:
        """A compact live view for the CLI's progress display."""
        recent = latency.summarize(self._recent_histogram())
        return {
            "sent": self.counts["sent"],
            "completed": self.counts["completed"],
            "acks": self.counts["acks"],
            "errors": self.counts["errors"],
            "in_flight": self.in_flight,
            "status": dict(self.status),
            "p50_ms": recent["p50_ms"],
            "p99_ms": recent["p99_ms"],
            "max_ms": recent["max_ms"],
            "cpu": {node: samples[-1][1] for node, samples in self.cpu.items() if samples},
        }

    def _recent_histogram(self, seconds: int = 5) -> HdrHistogram:
        merged = latency.new_histogram(latency.TIMELINE_DIGITS)
        for second in sorted(self._open_seconds)[-seconds:]:
            merged.add(self._open_seconds[second])
        return merged

    def result(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The raw run result the CLI turns into reports (histograms stay encoded, exact)."""
        self.seal()
        seconds = sorted(set(self.timeline) | set(self.others_by_second))
        timeline = []
        for second in seconds:
            row = dict(
                self.timeline.get(second)
                or {"t": second, "acks": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
            )
            row["others"] = self.others_by_second.get(second, 0)
            timeline.append(row)
        return {
            **meta,
            "histograms": {
                name: latency.encode(getattr(self, name)) for name in ("latency", "service", "start_lag", "wake_lag")
            },
            "latency_max_s": self.latency_max_s,
            "histograms_by_key": self.ack_by_key.encode(),
            "histograms_by_status": self.answer_by_status.encode(),
            "status_by_second": {str(s): dict(sorted(c.items())) for s, c in sorted(self.status_by_second.items())},
            "timeline": timeline,
            "status_counts": dict(sorted(self.status.items())),
            "transport_errors": dict(self.transport_errors),
            "counts": {
                key: self.counts.get(key, 0)
                for key in (
                    "sent",
                    "completed",
                    "acks",
                    "acks_without_id",
                    "errors",
                    "refused_as_expected",
                    "retries",
                    "late_claims",
                    "unsent",
                )
            },
            "in_flight_at_end": self.in_flight,
            "acked_ids": sorted(self.acked_ids),
            "cpu": self.cpu,
        }
