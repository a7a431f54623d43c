"""What the event plane did during a run: concurrency, message groups in flight, throughput.

Read from the data plane's ``/_hookstack/stats`` after the drain (its ``event_plane`` key: a
per-second course per mapping). Pure: the caller fetches the stats.
"""

from __future__ import annotations

from typing import Any

from stack.percentiles import percentile


def figures(
    stats: dict[str, Any] | None, function_name: str, origin_epoch: float, duration_s: float, until_epoch: float
) -> dict[str, Any]:
    """The mapping of ``function_name`` over [origin, until]: peaks, rates and its course (time in
    seconds from the load's start)."""
    plane = (stats or {}).get("event_plane")
    if not plane:
        return {"available": False, "reason": "the emulator's own event source mapping serves this stage"}
    mappings = [m for m in plane.get("mappings", {}).items() if m[1].get("function") == function_name]
    if not mappings:
        return {"available": False, "reason": f"no event source mapping of {function_name} in the event plane"}
    label, mapping = mappings[0]
    rows = [r for r in mapping.get("timeline", []) if origin_epoch - 1 <= r["t"] <= until_epoch + 1]
    load_end = origin_epoch + duration_s
    during = [r for r in rows if r["t"] <= load_end + 0.5]
    after = [r for r in rows if r["t"] > load_end + 0.5]
    return {
        "available": True,
        "mapping": label,
        "concurrency_limit": mapping.get("concurrency_limit"),
        "maximum_concurrency": mapping.get("maximum_concurrency"),
        "peak_in_flight_batches": max((r["in_flight_batches"] for r in rows), default=0),
        "peak_in_flight_groups": max((r["in_flight_groups"] for r in rows), default=0),
        "mean_in_flight_batches_during_load": (
            round(sum(r["in_flight_batches"] for r in during) / len(during), 2) if during else None
        ),
        "records_per_s_during_load": round(sum(r["records_deleted"] for r in during) / duration_s, 2)
        if duration_s
        else None,
        "records_after_load": sum(r["records_deleted"] for r in after),
        "batches_failed": mapping.get("batches_failed", {}),
        "records_retried": mapping.get("records_retried"),
        "poll_p99_ms": mapping.get("poll_ms", {}).get("p99"),
        "invoke_p99_ms": mapping.get("invoke_ms", {}).get("p99"),
        "busiest_second_records": max((r["records_deleted"] for r in rows), default=0),
        "median_receivers": percentile([r["receivers"] for r in rows], 50) if rows else None,
        "timeline": [
            [round(r["t"] - origin_epoch, 3), r["in_flight_batches"], r["in_flight_groups"], r["records_deleted"]]
            for r in rows
        ],
    }
