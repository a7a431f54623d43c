"""Exact latency distributions: HDR histograms in microseconds.

Locust's own statistics round response times into buckets and only see when a request was
*sent*. Here every acknowledged request is recorded with 3 significant digits, and the value
recorded is what a provider would experience:

* open model: from the request's *intended* start (its slot on the arrival schedule) to the
  response, so time spent waiting for a free user or a late wake-up counts;
* closed model: the service time, corrected for coordinated omission with
  ``record_corrected_value`` (a response slower than the user's pacing interval implies the
  requests that user did not send meanwhile would have waited too).
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
# An open-model run that falls behind can leave requests queued for a long time: keep an hour.
HIGHEST_US = 3_600_000_000
DIGITS = 3
TIMELINE_DIGITS = 2  # per-second histograms only feed plots
REPORTED_PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
)


def new_histogram(digits: int = DIGITS) -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, digits)


def to_us(seconds: float) -> int:
    return int(min(HIGHEST_US, max(LOWEST_US, round(seconds * 1_000_000))))


def record(histogram: HdrHistogram, seconds: float) -> None:
    histogram.record_value(to_us(seconds))


def record_corrected(histogram: HdrHistogram, seconds: float, expected_interval_s: float | None) -> None:
    """Record ``seconds`` plus the samples a closed loop paced at ``expected_interval_s`` missed."""
    if expected_interval_s is None or expected_interval_s <= 0:
        record(histogram, seconds)
        return
    histogram.record_corrected_value(to_us(seconds), to_us(expected_interval_s))


def encode(histogram: HdrHistogram) -> str | None:
    """Compressed, base64 text form (HdrHistogram V2), or None when nothing was recorded."""
    if histogram.get_total_count() == 0:
        return None
    return histogram.encode().decode("ascii")


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded)


def merge(encoded: Iterable[str | None], digits: int = DIGITS) -> HdrHistogram:
    total = new_histogram(digits)
    for item in encoded:
        if item:
            total.add(decode(item))
    return total


def summarize(histogram: HdrHistogram, *, exact_max_s: float | None = None) -> dict[str, float | int | None]:
    """``count``, ``p50_ms`` … ``p999_ms``, ``max_ms``, ``mean_ms`` (None when empty)."""
    count = histogram.get_total_count()
    result: dict[str, float | int | None] = {"count": count}
    if count == 0:
        result.update({f"{name}_ms": None for name, _ in REPORTED_PERCENTILES})
        result.update({"max_ms": None, "mean_ms": None, "min_ms": None})
        return result
    max_ms = histogram.get_max_value() / 1000
    if exact_max_s is not None and exact_max_s > 0:
        max_ms = exact_max_s * 1000  # the histogram's max is its bucket's upper edge
    values = histogram.get_percentile_to_value_dict([p for _, p in REPORTED_PERCENTILES])
    for name, percentile in REPORTED_PERCENTILES:
        # A percentile is its bucket's upper edge: never report it above the true maximum.
        result[f"{name}_ms"] = round(min(values[percentile] / 1000, max_ms), 3)
    result["max_ms"] = round(max_ms, 3)
    result["min_ms"] = round(histogram.get_min_value() / 1000, 3)
    result["mean_ms"] = round(histogram.get_mean_value() / 1000, 3)
    return result


def count_above(histogram: HdrHistogram, seconds: float) -> int:
    """How many recorded values exceed ``seconds`` (to bucket precision)."""
    limit = to_us(seconds)
    return sum(
        item.count_at_value_iterated_to for item in histogram.get_recorded_iterator() if item.value_iterated_to > limit
    )


def log_bins(histogram: HdrHistogram, bins: int = 40) -> list[list[float]]:
    """``[[lower_ms, upper_ms, count], ...]``: the distribution on log-spaced bins, for plots."""
    if histogram.get_total_count() == 0:
        return []
    low = max(histogram.get_min_value(), LOWEST_US)
    high = max(histogram.get_max_value(), low + 1)
    ratio = (high / low) ** (1 / bins)
    edges = [low * ratio**i for i in range(bins + 1)]
    counts = [0] * bins
    for item in histogram.get_recorded_iterator():
        value = item.value_iterated_to
        index = 0
        while index < bins - 1 and value > edges[index + 1]:
            index += 1
        counts[index] += item.count_at_value_iterated_to
    return [[round(edges[i] / 1000, 4), round(edges[i + 1] / 1000, 4), counts[i]] for i in range(bins)]
