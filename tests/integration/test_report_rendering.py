"""The HTML reports as a browser lays them out: headless Chromium at 1280 px, and no two text
labels of any SVG chart overlapping (their boxes measured after layout, in the page)."""

from __future__ import annotations

import pytest

import chaos.report
from chaos.report import render_html
from loadtests.model.gates import parse_gates
from loadtests.report import breakdown, breakdown_html, compare, summary
from loadtests.report.breakdown import EventTiming
from loadtests.report.e2e import BacklogSample, DrainResult
from tests.helpers.load_results import ORIGIN, synthetic_result, write_report_dir
from tests.helpers.rendered_labels import CHROMIUM, Chart, rendered_charts
from tests.unit.chaos.test_chaos_report import result as drill_result

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: install the chromium package to lay the reports out"
)

# Fault windows opening a fraction of a second apart, some never switched off, some with long
# names: without lanes their labels would be drawn over each other at the top of the plot.
CLOSE_FAULTS = [
    (1.0, 4.0, "partner-down-abc"),
    (1.3, 5.0, "worker-slow-abc"),
    (1.6, 3.0, "throttle-sqs-send-message-abc"),
    (2.0, 9.0, "ddb-write-errors-abc"),
    (6.0, 6.4, "drop-ack"),
    (6.2, 8.0, "partner-429-abc"),
    (11.0, None, "left-on-at-the-end-abc"),
    (11.4, None, "near-the-right-edge-abc"),
]


def _drill_with_close_faults():
    drill = drill_result()
    marks = [m for m in drill.timeline["marks"] if not m["kind"].startswith("fault")]
    for start, stop, fault_id in CLOSE_FAULTS:
        marks.append({"t": start, "kind": "fault_on", "detail": fault_id})
        if stop is not None:
            marks.append({"t": stop, "kind": "fault_off", "detail": fault_id})
    drill.timeline["marks"] = sorted(marks, key=lambda mark: mark["t"])
    return drill


def _load_page() -> str:
    """A load report with every chart: latency, throughput, distribution, errors, end to end,
    backlog, worker concurrency."""
    result = synthetic_result()
    drain = DrainResult(accepted=len(result["acked_ids"]), processed=len(result["acked_ids"]) - 3, dead_lettered=3)
    drain.e2e_ms = [float(50 + i % 200) for i in range(drain.processed)]
    drain.dead_letter_ms = [100.0, 120.0, 130.0]
    drain.last_terminal_ms = (ORIGIN + 10 + 4.5) * 1000
    built, _ = summary.build(result, target="embedded", drain=drain, gates=parse_gates(["p99<250ms", "missing==0"]))
    built["event_plane"] = {
        "available": True,
        "concurrency_limit": 10,
        "timeline": [[t, min(t, 10), min(t, 8), 100.0] for t in range(14)],
    }
    backlog = [BacklogSample(ORIGIN + t, max(0, 300 - 20 * t), 10, 3, 0) for t in range(20)]
    plot = summary.series(result, backlog)
    plot["errors_timeline"] = breakdown.errors_timeline(result)
    timings = [
        EventTiming(received_ms=(ORIGIN + i * 0.01) * 1000, e2e_ms=e2e_ms, key=f"shopify orders/create {i % 3}")
        for i, e2e_ms in enumerate(drain.e2e_ms)
    ]
    plot.update(breakdown.e2e_series(timings, ORIGIN))
    return breakdown_html.report_page(built, plot)


def _overlaps(charts: list[Chart]) -> dict[str, list[tuple[str, str]]]:
    return {chart.name: found for chart in charts if (found := chart.overlapping_labels())}


def test_no_labels_overlap_in_a_drill_report_with_close_fault_windows(tmp_path):
    charts = rendered_charts(render_html(_drill_with_close_faults()), tmp_path)
    assert [chart.name for chart in charts] == ["drill timeline"]
    labels = {label.text for label in charts[0].labels}
    assert {fault_id for _, _, fault_id in CLOSE_FAULTS} <= labels  # every window is labelled
    assert _overlaps(charts) == {}


def test_fault_labels_all_in_one_lane_are_found_overlapping(tmp_path, monkeypatch):
    """The check can fail: the same drill with every label forced into the first lane."""
    lanes = chaos.report.label_lanes
    monkeypatch.setattr(
        chaos.report,
        "label_lanes",
        lambda starts, labels, left, right: [(x, 0, anchor) for x, _, anchor in lanes(starts, labels, left, right)],
    )
    overlaps = _overlaps(rendered_charts(render_html(_drill_with_close_faults()), tmp_path))
    assert ("partner-down-abc", "worker-slow-abc") in overlaps["drill timeline"]


def test_no_labels_overlap_in_a_load_report(tmp_path):
    charts = rendered_charts(_load_page(), tmp_path)
    names = [chart.name for chart in charts]
    assert len(charts) == 8, names
    assert any(name.startswith("Errors over time") for name in names)
    assert any(name.startswith("End-to-end latency over time") for name in names)
    assert any(name.startswith("Worker concurrency over time") for name in names)
    assert all(chart.labels for chart in charts)
    assert _overlaps(charts) == {}


def test_no_labels_overlap_in_a_comparison_report(tmp_path):
    baseline = compare.read_run(write_report_dir(tmp_path / "before"))
    current = compare.read_run(write_report_dir(tmp_path / "after", slower_by=2.0))
    charts = rendered_charts(compare.render(baseline, current), tmp_path)
    assert len(charts) == 1 and charts[0].labels
    assert _overlaps(charts) == {}
