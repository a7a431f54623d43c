"""Summary and HTML report, rendered from a synthetic run."""

from __future__ import annotations

import json
import re

import pytest

from loadtests.model.gates import parse_gates
from loadtests.report import html as html_report
from loadtests.report import summary
from loadtests.report.e2e import BacklogSample, DrainResult
from tests.helpers.load_results import ORIGIN, synthetic_result

REQUIRED_KEYS = {
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "offered_rps",
    "achieved_rps",
    "requests",
    "status_counts",
    "accepted",
    "processed",
    "dead_lettered",
    "missing",
    "e2e_p99_ms",
    "generator_saturated",
    "gates",
    "p90_ms",
    "scenario",
    "target",
    "per_hop",
    "drain_seconds",
    "generator_cpu",
}


def drain_for(result: dict) -> DrainResult:
    drain = DrainResult(accepted=len(result["acked_ids"]), processed=len(result["acked_ids"]) - 3, dead_lettered=3)
    drain.e2e_ms = [float(50 + i % 200) for i in range(drain.processed)]
    drain.dead_letter_ms = [100.0, 120.0, 130.0]
    drain.last_terminal_ms = (ORIGIN + 10 + 4.5) * 1000
    return drain


PER_HOP = {
    "available": True,
    **{
        hop: {
            "available": True,
            "handler": {"count": 10, "p50_ms": 2.0, "p90_ms": 3.0, "p99_ms": 4.0, "max_ms": 5.0},
            "runtime": {"count": 10, "p50_ms": 3.0, "p90_ms": 4.0, "p99_ms": 5.0, "max_ms": 6.0},
        }
        for hop in ("authorizer", "producer", "worker")
    },
}


def test_summary_has_the_stable_keys_and_right_figures():
    result = synthetic_result()
    built, gates = summary.build(
        result,
        target="embedded",
        drain=drain_for(result),
        per_hop=PER_HOP,
        gates=parse_gates(["p99<250ms", "errors<1%", "missing==0"]),
    )
    assert REQUIRED_KEYS <= built.keys()
    assert built["requests"] == 1000 and built["status_counts"] == {"202": 996, "503": 4}
    assert built["accepted"] == 996 and built["error_rate"] == pytest.approx(0.004)
    assert built["offered_rps"] == 100.0 and built["achieved_rps"] == 100.0
    assert built["p50_ms"] == pytest.approx(12.2, rel=0.01)  # 12 ms service + 0.2 ms late start
    assert built["p99_ms"] == pytest.approx(12.2, rel=0.01) and built["max_ms"] == pytest.approx(400.2, rel=1e-3)
    assert built["p999_ms"] == pytest.approx(400.2, rel=0.01)
    assert (built["processed"], built["dead_lettered"], built["missing"]) == (993, 3, 0)
    assert built["drain_seconds"] == pytest.approx(4.5)
    assert built["e2e_p99_ms"] == 247.0
    assert not built["generator_saturated"] and built["generator_cpu"]["local"]["p90_percent"] == 35.0
    assert [g.passed for g in gates] == [True, True, True]
    json.dumps(built)  # serializable as is


def test_a_generator_at_full_core_or_waking_late_is_reported_saturated():
    hot = summary.build(synthetic_result(cpu_percent=97.0), target="url")[0]
    assert hot["generator_saturated"]
    assert any("97 % of a core" in note for note in hot["generator_notes"])
    late = summary.build(synthetic_result(wake_lag_s=0.030), target="url")[0]
    assert late["generator_saturated"]
    assert any("woke" in note for note in late["generator_notes"])


def test_without_a_stack_the_drain_is_not_measured_and_its_gates_fail():
    built, gates = summary.build(
        synthetic_result(), target="url", drain_note="no stack outputs", gates=parse_gates(["missing==0"])
    )
    assert built["missing"] is None and built["e2e"] == {"available": False, "reason": "no stack outputs"}
    assert not gates[0].passed and not built["passed"]


def test_html_report_is_self_contained_with_the_plots():
    result = synthetic_result()
    built, _ = summary.build(
        result, target="embedded", drain=drain_for(result), per_hop=PER_HOP, gates=parse_gates(["p99<1ms"])
    )
    backlog = [BacklogSample(ORIGIN + t, max(0, 300 - 20 * t), 10, 3, 0) for t in range(20)]
    page = html_report.render(built, summary.series(result, backlog))
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 4  # latency over time, throughput, histogram, backlog
    assert "Acknowledgement latency over time" in page and "Backlog depth" in page
    assert "gate FAILED" not in page and "FAILED" in page  # the verdict, and the gate row
    assert not re.search(r"<script|<link|\s(src|href)=", page)  # nothing fetched: opens offline
    assert "function logs: REPORT Duration" in page


def test_report_says_when_per_hop_data_is_absent():
    result = synthetic_result()
    built, _ = summary.build(
        result, target="aws", per_hop={"available": False, "reason": "not available on this target"}
    )
    page = html_report.render(built, summary.series(result))
    assert "authorizer: not available on this target" in page
    assert page.count("<svg") == 3  # no backlog samples: a sentence instead of an empty plot


def test_report_reads_like_a_person_wrote_it():
    result = synthetic_result()
    built, _ = summary.build(
        result,
        target="embedded",
        drain=drain_for(result),
        per_hop=PER_HOP,
        gates=parse_gates(["missing==0", "errors<1%"]),
    )
    page = html_report.render(built, summary.series(result))
    assert ">None<" not in page and "None /" not in page and "None s" not in page
    assert "0.40 % (4 requests)" in page  # error rate as a share, with the count
    assert "<td>0</td><td>passed</td>" in page and "<td>0.400 %</td><td>passed</td>" in page  # gates in units
    assert "12.2 ms / 12.2 ms / 12.2 ms" in page  # ack p50 / p90 / p95 with units
    # p99 and max coincide at low rates: the dashed max is drawn over the solid p99, never hidden.
    chart = page[page.index("Acknowledgement latency over time") : page.index("Throughput (per second)")]
    assert chart.index('stroke="#d62728" stroke-width="1.6"') < chart.index('stroke-dasharray="4 3" points=')
    assert "<details><summary>summary.json</summary>" in page


def test_report_without_end_to_end_accounting_says_why_once():
    reason = "baseline handler set: its worker keeps no status, so there is nothing to read back"
    built, _ = summary.build(
        synthetic_result(),
        target="embedded",
        drain_note=reason,
        per_hop={
            "available": False,
            "reason": "not available on this target",
            "worker": {"available": False, "reason": reason},
        },
    )
    page = html_report.render(built, summary.series(synthetic_result()))
    assert f"not measured: {reason}" in page and f"worker: {reason}" in page
    assert "processed / dead-lettered / missing" not in page and "end to end p50" not in page


def test_the_worker_side_throughput_splits_at_the_load_end():
    result = synthetic_result()
    drain = drain_for(result)
    load_end_ms = (result["origin_epoch"] + result["duration_s"]) * 1000
    # 30 events done during the load, 12 after it, over the 4.5 s drain
    drain.terminal_at_ms = [result["origin_epoch"] * 1000 + 100 * i for i in range(30)]
    drain.terminal_at_ms += [load_end_ms + 300 * (i + 1) for i in range(12)]
    drain.last_terminal_ms = max(drain.terminal_at_ms)
    drain.processed, drain.dead_lettered = 42, 0
    drain.accepted = 42
    built, _ = summary.build(result, target="embedded", drain=drain)
    assert built["worker_events_per_s_during_load"] == round(30 / result["duration_s"], 3)
    assert built["backlog_at_load_end"] == 12
    assert built["drain_seconds"] == 3.6 and built["drain_events_per_s"] == round(12 / 3.6, 3)


def test_event_plane_figures_and_chart():
    from loadtests.report import event_plane

    stats = {
        "event_plane": {
            "mappings": {
                "WorkerQueueMapping": {
                    "function": "w",
                    "concurrency_limit": 4,
                    "maximum_concurrency": 4,
                    "timeline": [
                        {
                            "t": ORIGIN + t,
                            "in_flight_batches": min(t, 4),
                            "in_flight_groups": 2 * min(t, 4),
                            "records_deleted": 10,
                            "receivers": 2,
                        }
                        for t in range(-5, 20)
                    ],
                    "poll_ms": {"p99": 3.0},
                    "invoke_ms": {"p99": 9.0},
                }
            }
        }
    }
    figures = event_plane.figures(stats, "w", ORIGIN, 10.0, ORIGIN + 15)
    assert figures["available"] and figures["peak_in_flight_batches"] == 4 and figures["peak_in_flight_groups"] == 8
    assert figures["timeline"][0][0] == -1.0 and figures["timeline"][-1][0] == 16.0  # the window, ±1 s
    assert figures["records_per_s_during_load"] == 12.0  # t = -1 … 10 within the load window: 12 seconds of 10
    assert not event_plane.figures({"event_plane": None}, "w", ORIGIN, 10.0, ORIGIN + 15)["available"]
    result = synthetic_result()
    built, _ = summary.build(result, target="embedded")
    built["event_plane"] = figures
    page = html_report.render(built, summary.series(result))
    assert "Worker concurrency over time (event plane; concurrency limit 4)" in page
