"""The run broken down as performance engineers compare runs: per provider/topic, 2xx apart from
the rest, errors by status code over time, and the end-to-end distribution and its course.

Recorded at the source, exact: one HDR histogram per key (``KeyedHistograms``, bounded in the
number of keys), merged across processes like the run's own. Pure: no Locust import.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtests.report import latency
from stack.percentiles import percentiles

# Keys beyond this many (a scenario with very many topics) are counted together as OTHER_KEY:
# each histogram holds a few hundred kilobytes.
MAX_KEYS = 32
OTHER_KEY = "(other)"
TRANSPORT_ERROR = "transport_error"
_E2E_SECOND_PERCENTILES = {"p50": 50, "p99": 99, "max": 100}
E2E_BINS = 40


class KeyedHistograms:
    """Exact latency histograms by key (``"shopify orders/create"``, ``"429"``), at most ``max_keys``."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self.histograms: dict[str, HdrHistogram] = {}

    def _histogram(self, key: str) -> HdrHistogram:
        histogram = self.histograms.get(key)
        if histogram is None:
            if len(self.histograms) >= self.max_keys - 1 and key != OTHER_KEY:
                return self._histogram(OTHER_KEY)
            histogram = self.histograms[key] = latency.new_histogram()
        return histogram

    def record(self, key: str, seconds: float) -> None:
        latency.record(self._histogram(key), seconds)

    def record_corrected(self, key: str, seconds: float, expected_interval_s: float | None) -> None:
        latency.record_corrected(self._histogram(key), seconds, expected_interval_s)

    def encode(self) -> dict[str, str]:
        return {key: text for key, histogram in self.histograms.items() if (text := latency.encode(histogram))}

    def add_encoded(self, encoded: Mapping[str, str | None]) -> None:
        for key, text in encoded.items():
            if text:
                self._histogram(key).add(latency.decode(text))


def add_status_seconds(total: dict[int, Counter[str]], report: Mapping[str, Mapping[str, int]]) -> None:
    """Merge ``{second: {status: count}}`` (a report's, keys as text) into ``total``."""
    for second, counts in report.items():
        total.setdefault(int(second), Counter()).update(counts)


# --- summary and plot series -------------------------------------------------------------------


def _summaries(encoded: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    return {key: latency.summarize(latency.decode(text)) for key, text in sorted(encoded.items())}


@dataclass(frozen=True)
class EventTiming:
    """One acknowledged event read back: when it was received, how long until processed, its key."""

    received_ms: float
    e2e_ms: float
    key: str


def e2e_by_key(timings: Iterable[EventTiming]) -> dict[str, dict[str, Any]]:
    grouped: dict[str, list[float]] = {}
    for timing in timings:
        grouped.setdefault(timing.key, []).append(timing.e2e_ms)
    named = {"p50": 50, "p90": 90, "p99": 99, "max": 100}
    return {
        key: {"count": len(values), **{f"{name}_ms": v for name, v in percentiles(values, named, digits=3).items()}}
        for key, values in sorted(grouped.items())
    }


def summary_fields(result: Mapping[str, Any], timings: list[EventTiming] | None) -> dict[str, Any]:
    """``by_key`` (ack latency, and end to end where measured, per provider/topic) and ``non_2xx``
    (the latency of answers that were not acknowledgements, per status) for summary.json."""
    ack_by_key = _summaries(result.get("histograms_by_key") or {})
    e2e = e2e_by_key(timings) if timings is not None else {}
    by_key = {key: {"ack": ack_by_key.get(key), "e2e": e2e.get(key)} for key in sorted(set(ack_by_key) | set(e2e))}
    by_status = _summaries(result.get("histograms_by_status") or {})
    answered = latency.merge(result.get("histograms_by_status", {}).values())
    return {
        "by_key": by_key,
        "non_2xx": {
            "basis": "the same as the ack latency, for answers other than 2xx (transport errors are not answers)",
            **latency.summarize(answered),
            "by_status": by_status,
        },
    }


def errors_timeline(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{"t": second from the load's start, "<status>": count, …}]`` of every non-2xx answer."""
    origin = result["origin_epoch"]
    rows = []
    for second, counts in sorted((int(s), c) for s, c in (result.get("status_by_second") or {}).items()):
        rows.append({"t": second - origin, **counts})
    return rows


def e2e_series(timings: list[EventTiming] | None, origin_epoch: float) -> dict[str, Any]:
    """The end-to-end distribution (log bins) and, per second of receipt, its p50/p99/max."""
    if not timings:
        return {"e2e_bins": [], "e2e_timeline": []}
    histogram = latency.new_histogram()
    by_second: dict[int, list[float]] = {}
    for timing in timings:
        latency.record(histogram, timing.e2e_ms / 1000)
        by_second.setdefault(int(timing.received_ms // 1000), []).append(timing.e2e_ms)
    timeline = []
    for second, values in sorted(by_second.items()):
        figures = percentiles(values, _E2E_SECOND_PERCENTILES, digits=3)
        timeline.append(
            {"t": second - origin_epoch, "events": len(values), **{f"{k}_ms": v for k, v in figures.items()}}
        )
    return {"e2e_bins": latency.log_bins(histogram, E2E_BINS), "e2e_timeline": timeline}


def timings_from_items(items: Mapping[str, Mapping[str, Any]], acked: Iterable[str]) -> list[EventTiming]:
    """The processed events among ``acked``, from their status items (``received_at``,
    ``processed_at``, ``provider``, ``topic``)."""
    timings = []
    for event_id in acked:
        item = items.get(event_id)
        if item is None:
            continue
        received, done = item.get("received_at"), item.get("processed_at")
        if not isinstance(received, int | float) or not isinstance(done, int | float):
            continue
        key = f"{item.get('provider', '?')} {item.get('topic', '?')}"
        timings.append(EventTiming(float(received), float(done - received), key))
    return timings
