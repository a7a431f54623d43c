"""A run stopped by hand (Ctrl-C): what was measured until then, reported as such.

Locust, interrupted, still writes its result (the harness writes it when Locust quits), but that
result describes the planned run: its duration, its offered requests and, as never sent, every
arrival the schedule still held. ``measured_part`` cuts it to the time that was measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def measured_part(result: Mapping[str, Any]) -> dict[str, Any]:
    """``result`` as if the run had been planned to end when it was stopped (``ended_epoch``)."""
    planned = float(result["duration_s"])
    measured = min(planned, max(0.0, float(result["ended_epoch"]) - float(result["origin_epoch"])))
    offered_timeline = [[t, rate] for t, rate in result.get("offered_timeline", []) if t < measured]
    offered = sum(rate * min(1.0, measured - t) for t, rate in offered_timeline)
    counts = dict(result["counts"])
    # Arrivals due before the stop that were never sent still count; the rest of the plan does not.
    counts["unsent"] = max(0, math.floor(offered) - counts.get("sent", 0))
    return {
        **result,
        # A zero-length window has no rates: one second keeps them finite (and near zero).
        "duration_s": round(measured, 3) if measured > 0 else 1.0,
        "planned_duration_s": planned,
        "offered_requests": offered,
        "offered_timeline": offered_timeline,
        "counts": counts,
    }


def fields(result: Mapping[str, Any], stage: str) -> dict[str, Any]:
    """The summary's mark: ``interrupted``, when, and during what."""
    return {
        "interrupted": True,
        "interrupted_during": stage,  # "load" or "drain"
        "measured_s": result["duration_s"],
        "planned_duration_s": result.get("planned_duration_s", result["duration_s"]),
    }
