"""Drill reports: JSON, and a self-contained HTML page with an inline SVG timeline."""

from __future__ import annotations

import json
import re

from chaos.report import fault_windows, render_html, timeline_svg, write_reports
from chaos.runner import DrillResult


def result(verdict: str = "PASS", failures: list[str] | None = None) -> DrillResult:
    samples = [
        {
            "t": t / 2,
            "queue_visible": max(0, 10 - t),
            "queue_in_flight": 2 if t < 10 else 0,
            "dlq": 1 if 8 < t < 16 else 0,
            "processed": min(t, 10),
            "dead_lettered": 0,
        }
        for t in range(24)
    ]
    marks = [
        {"t": 0.1, "kind": "drill_start", "detail": "replay"},
        {"t": 1.0, "kind": "fault_on", "detail": "partner-down-abc", "action": "worker/partner/error"},
        {"t": 6.0, "kind": "fix", "detail": "faults off"},
        {"t": 6.0, "kind": "fault_off", "detail": "partner-down-abc"},
        {"t": 6.5, "kind": "replay", "detail": "round 1: DLQ depth 1"},
        {"t": 2.0, "kind": "fault_on", "detail": "left-on-<b>"},
        {"t": 11.5, "kind": "faults_off", "detail": "every fault removed"},
    ]
    counts = {
        "sent": 24,
        "reinjected": 0,
        "acked": 24,
        "rejected": {},
        "processed_before_fix": 23,
        "processed": 24,
        "dead_lettered": 1,
        "dead_lettered_by_reason": {"retries exhausted: <injected>": 1},
        "replayed": 1,
        "duplicates_applied": 0,
        "order_violations": 0,
        "missing": 0,
        "unexpected_outcomes": 0,
        "stale_status": 0,
        "dlq_depth_end": 0,
    }
    phase = {
        "phase": "before_fix",
        "problems": [],
        "warnings": ["w1"],
        "events": [
            {
                "key": "y000",
                "event_id": "evt_1",
                "group": "demo:g",
                "label": "partner-down",
                "status": "DEAD_LETTERED",
                "applications": 1,
                "attempts": 3,
                "generation": 0,
                "reason": "retries exhausted",
                "problem": None,
                "warning": None,
            }
        ],
    }
    return DrillResult(
        drill="replay",
        summary="a partner down",
        verdict=verdict,
        run_id="abc",
        target="embedded",
        stage="chaos",
        settings={"events": 24},
        timings={"worker_timeout_s": 3.0},
        started_at=0.0,
        duration_s=12.3,
        counts=counts,
        checks=[{"name": "c", "ok": True, "detail": "d"}],
        before_fix=phase,
        after_replay={**phase, "phase": "after_replay"},
        replay_errors=[],
        error=None,
        timeline={"samples": samples, "marks": marks},
        failures=failures or [],
    )


def test_fault_windows_pair_on_and_off_and_close_at_the_final_switch_off():
    marks = result().timeline["marks"]
    windows = fault_windows(marks, end=20.0)
    assert ("partner-down-abc", 1.0, 6.0) in windows
    assert ("left-on-<b>", 2.0, 11.5) in windows


def test_html_is_self_contained_with_an_inline_svg_plot():
    page = render_html(result())
    assert page.count("<svg") == 1 and "<polyline" in page
    assert not re.search(r"<(script|link|img)\b", page)
    urls = re.findall(r"https?://[^\s\"'<>]+", page)
    assert urls == ["http://www.w3.org/2000/svg"]  # the SVG namespace, not a fetch
    assert "PASS" in page and "partner-down-abc" in page
    assert "left-on-&lt;b&gt;" in page and "left-on-<b>" not in page


def test_html_escapes_everything_it_shows():
    page = render_html(result("FAIL", ["lost <script>alert(1)</script>"]))
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert 'class="fail"' in page


def test_svg_handles_an_empty_timeline():
    svg = timeline_svg({"samples": [], "marks": []})
    assert svg.startswith("<svg") and "polyline" not in svg


def test_reports_are_written_as_json_and_html(tmp_path):
    json_path, html_path = write_reports(result(), tmp_path / "reports")
    data = json.loads(json_path.read_text())
    assert data["verdict"] == "PASS" and data["counts"]["replayed"] == 1
    assert data["timeline"]["samples"][0]["t"] == 0
    assert html_path.read_text().startswith("<!doctype html>")
