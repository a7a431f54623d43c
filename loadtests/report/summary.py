"""Turns a run's raw result (+ drain and per-hop data) into the JSON summary and plot series.

Summary keys are stable: reports, gates and CI scripts read them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from loadtests.model.gates import Gate, GateResult, evaluate
from loadtests.report import latency
from loadtests.report.e2e import BacklogSample, DrainResult
from stack.percentiles import percentile, percentiles

# The generator is the bottleneck when one of its processes spends this much of a core …
CPU_SATURATED_PERCENT = 90.0
# … or when users that were free woke this late for their slot (the event loop is overloaded).
WAKE_LAG_LIMIT_MS = 20.0
# Arrivals claimed late because every user was busy: beyond this share the pool was too small.
LATE_START_SHARE = 0.01
SHOPIFY_TIMEOUT_S = 5.0  # a provider counts a slower answer as a failed delivery


# Exact nearest-rank figures of what the events table gave back (one value per event).
EVENT_PERCENTILES = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p999": 99.9, "max": 100}


def generator_health(result: dict[str, Any], wake_lag_p99_ms: float | None) -> dict[str, Any]:
    """CPU of each generator process during the load window, and whether it was the bottleneck."""
    start = result["origin_epoch"]
    end = start + result["duration_s"]
    cpu: dict[str, Any] = {}
    notes: list[str] = []
    saturated = False
    for node, samples in sorted(result.get("cpu", {}).items()):
        window = sorted(pct for t, pct in samples if start <= t <= end + 1) or sorted(pct for _, pct in samples)
        if not window:
            continue
        p90 = percentile(window, 90)
        assert p90 is not None  # the window is not empty
        cpu[node] = {
            "mean_percent": round(sum(window) / len(window), 1),
            "p90_percent": round(p90, 1),
            "max_percent": round(window[-1], 1),
            "samples": len(window),
        }
        if p90 >= CPU_SATURATED_PERCENT:
            saturated = True
            notes.append(f"generator process {node} used {p90:.0f} % of a core (p90 of 1 s samples)")
    if wake_lag_p99_ms is not None and wake_lag_p99_ms >= WAKE_LAG_LIMIT_MS:
        saturated = True
        notes.append(
            f"free users woke {wake_lag_p99_ms:.1f} ms after their slot (p99): the generator could not "
            "keep its schedule (its event loop overloaded, or its process starved of CPU by the target "
            "running on the same machine)"
        )
    return {"cpu": cpu, "saturated": saturated, "notes": notes}


def build(
    result: dict[str, Any],
    *,
    target: str,
    drain: DrainResult | None = None,
    drain_note: str | None = None,
    per_hop: dict[str, Any] | None = None,
    gates: list[Gate] | None = None,
) -> tuple[dict[str, Any], list[GateResult]]:
    histograms = {
        name: latency.decode(enc) if enc else latency.new_histogram() for name, enc in result["histograms"].items()
    }
    ack = latency.summarize(histograms["latency"], exact_max_s=result.get("latency_max_s"))
    service = latency.summarize(histograms["service"])
    start_lag = latency.summarize(histograms["start_lag"])
    wake_lag = latency.summarize(histograms["wake_lag"])
    counts = result["counts"]
    duration = result["duration_s"]
    sent, completed = counts["sent"], counts["completed"]
    abandoned = max(0, sent - completed)
    unsent = counts.get("unsent", 0)
    # Open model: an arrival the generator never sent is a delivery that did not happen.
    errors = counts["errors"] + abandoned + unsent
    attempted = sent + unsent
    health = generator_health(result, wake_lag["p99_ms"])
    late_share = counts.get("late_claims", 0) / sent if sent else 0.0
    open_model = result["mode"] == "open"

    summary: dict[str, Any] = {
        "scenario": result["scenario"],
        "mode": result["mode"],
        "target": target,
        "url": result.get("host"),
        "started_at": dt.datetime.fromtimestamp(result["started_epoch"], dt.UTC).isoformat(),
        "duration_s": duration,
        "processes": result.get("processes", 1),
        "users": result.get("users"),
        "user_classes": result.get("user_classes", []),
        "latency_basis": (
            "from each request's intended start on the open-model schedule"
            if open_model
            else "service time, corrected for coordinated omission (closed model)"
        ),
        "requests": sent,
        "completed": completed,
        "abandoned": abandoned,
        "unsent": unsent,
        "status_counts": result["status_counts"],
        "transport_errors": result.get("transport_errors", {}),
        "errors": errors,
        "error_rate": round(errors / attempted, 6) if attempted else None,
        "refused_as_expected": counts.get("refused_as_expected", 0),
        "retries_sent": counts.get("retries", 0),
        **{f"{name}_ms": ack[f"{name}_ms"] for name in ("p50", "p90", "p95", "p99", "p999", "max", "mean")},
        "acks": counts["acks"],
        "acks_without_id": counts.get("acks_without_id", 0),
        "slower_than_provider_timeout": latency.count_above(histograms["latency"], SHOPIFY_TIMEOUT_S),
        "service_p50_ms": service["p50_ms"],
        "service_p99_ms": service["p99_ms"],
        "service_max_ms": service["max_ms"],
        "schedule_lag_p99_ms": start_lag["p99_ms"] if open_model else None,
        "schedule_lag_max_ms": start_lag["max_ms"] if open_model else None,
        "wake_lag_p99_ms": wake_lag["p99_ms"] if open_model else None,
        "late_starts": counts.get("late_claims", 0),
        "offered_requests": round(result["offered_requests"], 1),
        "offered_rps": round(result["offered_requests"] / duration, 3),
        "achieved_rps": round(completed / duration, 3),
        "accepted_rps": round(counts["acks"] / duration, 3),
        "accepted": len(result.get("acked_ids", [])),
        "generator_saturated": health["saturated"],
        "generator_cpu": health["cpu"],
        "generator_notes": health["notes"],
        "pool_exhausted": open_model and (late_share > LATE_START_SHARE or unsent > 0),
    }
    if unsent:
        summary["generator_notes"].append(
            f"{unsent} scheduled arrivals were never sent: every user was waiting on an unanswered request "
            "until the run ended (counted as errors)"
        )
    if summary["pool_exhausted"]:
        summary["generator_notes"].append(
            f"{late_share:.1%} of arrivals started late because all {result.get('users')} users were busy "
            "(latency still counts from the intended start; raise --users to offer the rate)"
        )
    summary.update(_drain_fields(drain, drain_note, result))
    summary["per_hop"] = per_hop if per_hop is not None else {"available": False, "reason": "not collected"}
    gate_results = evaluate(gates or [], summary)
    summary["gates"] = [g.as_dict() for g in gate_results]
    summary["passed"] = all(g.passed for g in gate_results)
    return summary, gate_results


def _drain_fields(drain: DrainResult | None, note: str | None, result: dict[str, Any]) -> dict[str, Any]:
    e2e_keys = [f"e2e_{name}_ms" for name in ("p50", "p90", "p95", "p99", "p999", "max")]
    if drain is None:
        return {
            "processed": None,
            "dead_lettered": None,
            "missing": None,
            "drain_seconds": None,
            "worker_events_per_s_during_load": None,
            "backlog_at_load_end": None,
            "drain_events_per_s": None,
            **{key: None for key in e2e_keys},
            "e2e": {"available": False, "reason": note or "not measured"},
        }
    e2e = percentiles(drain.e2e_ms, EVENT_PERCENTILES, digits=3)
    dead = percentiles(drain.dead_letter_ms, EVENT_PERCENTILES, digits=3)
    load_start_ms = result["origin_epoch"] * 1000
    load_end_ms = (result["origin_epoch"] + result["duration_s"]) * 1000
    drain_seconds = None
    if drain.missing == 0 and drain.last_terminal_ms is not None:
        drain_seconds = round(max(0.0, drain.last_terminal_ms - load_end_ms) / 1000, 3)
    # What the worker side got through while the load ran, and after it: the backlog's drain rate.
    during = sum(1 for t in drain.terminal_at_ms if load_start_ms <= t <= load_end_ms)
    after = sum(1 for t in drain.terminal_at_ms if t > load_end_ms)
    return {
        "processed": drain.processed,
        "dead_lettered": drain.dead_lettered,
        "missing": drain.missing,
        "missing_no_record": drain.missing_no_record,
        "missing_unfinished": drain.missing_unfinished,
        **{f"e2e_{name}_ms": value for name, value in e2e.items()},
        "dead_letter_p99_ms": dead["p99"],
        "drain_seconds": drain_seconds,
        "drain_timed_out": drain.timed_out,
        "worker_events_per_s_during_load": round(during / result["duration_s"], 3) if result["duration_s"] else None,
        "backlog_at_load_end": after,
        "drain_events_per_s": round(after / drain_seconds, 3) if drain_seconds else None,
        "e2e": {
            "available": True,
            "basis": "processed_at - received_at of each acknowledged event",
            "waited_s": round(drain.waited_s, 1),
            "scans": drain.scans,
        },
    }


def series(result: dict[str, Any], backlog: list[BacklogSample] | None = None) -> dict[str, Any]:
    """Plot data, with time in seconds from the load's start."""
    origin = result["origin_epoch"]
    histogram = latency.decode(result["histograms"]["latency"]) if result["histograms"]["latency"] else None
    return {
        "timeline": [{**row, "t": row["t"] - origin} for row in result.get("timeline", [])],
        "offered": result.get("offered_timeline", []),
        "bins": latency.log_bins(histogram) if histogram is not None else [],
        "backlog": [[s.t - origin, s.visible, s.in_flight, s.dlq_visible, s.dlq_in_flight] for s in (backlog or [])],
        "duration_s": result["duration_s"],
    }
