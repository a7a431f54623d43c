"""Drill reports: the result as JSON, and a readable self-contained HTML page with the timeline
plotted as inline SVG (queue and DLQ depth, processed and dead-lettered counts, fault windows).
Nothing is loaded from a network: the page opens offline."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from chaos.runner import DrillResult
from stack.fidelity.report_section import fidelity_section_html

WIDTH, HEIGHT = 900, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 170, 24, 40
# Drawn in this order. The DLQ depth often equals the dead-lettered count (until the replay), so
# it comes last, dashed, over that line: both stay visible where they coincide.
SERIES = (
    ("queue_visible", "queue (visible)", "#1f77b4"),
    ("queue_in_flight", "queue (in flight)", "#17becf"),
    ("processed", "processed", "#2ca02c"),
    ("dead_lettered", "dead-lettered", "#ff7f0e"),
    ("dlq", "DLQ depth", "#d62728"),
)
DASHED = frozenset({"dlq"})
LABEL_FONT_PX = 10
LABEL_CHAR_PX = 6.2  # a generous average advance at 10 px sans-serif, so estimated boxes never touch
LABEL_LINE_PX = 12
# The counts table, in this order; a drill shows the counts it has (the jobs drills have their own).
COUNT_LABELS = (
    ("sent", "sent (HTTP deliveries)"),
    ("inserted", "items inserted into the source table"),
    ("delivered", "items the partner accepted"),
    ("reinjected", "re-injected into the queue"),
    ("acked", "acknowledged (202)"),
    ("rejected", "rejected"),
    ("processed_before_fix", "processed before the fix"),
    ("processed", "processed at the end (jobs: SUCCEEDED)"),
    ("failed", "jobs FAILED"),
    ("unfinished", "jobs not finished"),
    ("lost", "jobs lost (nothing left to run them)"),
    ("stuck", "jobs stuck (still queued)"),
    ("dead_lettered", "dead-lettered"),
    ("records_expected", "customer records expected"),
    ("records_found", "customer records found"),
    ("records_missing", "customer records missing"),
    ("records_unexpected", "customer records no job asked for"),
    ("consumers_started", "consumers started"),
    ("consumers_killed", "consumers killed (SIGKILL)"),
    ("killed_runs", "job runs killed"),
    ("rerun_after_kill", "killed jobs finished by another consumer"),
    ("completed", "jobs completed (a callback each)"),
    ("callback_attempts", "callback attempts"),
    ("failed_attempts", "callback attempts failed"),
    ("delivered_by_retry", "callbacks delivered by a retry"),
    ("delivered_after_dead_letter", "callbacks delivered after the DLQ replay"),
    ("redelivered_copies", "delivered callbacks sent again (one delivery in effect)"),
    ("replayed", "replayed"),
    ("duplicates_applied", "duplicates applied"),
    ("order_violations", "order violations"),
    ("missing", "missing"),
    ("unexpected_outcomes", "unexpected outcomes"),
    ("stale_status", "status not updated for a dead letter"),
    ("dlq_depth_end", "DLQ depth at the end"),
    ("left_on_queues", "left on the CDC queue and its DLQ"),
    ("answered_429", "partner answered 429"),
    ("answered_503", "partner answered 503"),
    ("most_in_1s_fault", "most accepted in any 1 s under the fault's limit"),
    ("limit_in_1s_fault", "the fault's limit in 1 s (burst + rate)"),
    ("most_in_1s", "most accepted in any 1 s"),
    ("limit_in_1s", "the partner's own limit in 1 s (burst + rate)"),
)


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _step(span: float) -> float:
    raw = max(span, 1e-9) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(f * magnitude for f in (1, 2, 5, 10) if raw <= f * magnitude)


def fault_windows(marks: list[dict[str, Any]], end: float) -> list[tuple[str, float, float]]:
    """(fault id, on, off) from the timeline marks; a fault never switched off ends at ``end``."""
    opened: dict[str, float] = {}
    windows = []
    for mark in marks:
        if mark["kind"] == "fault_on":
            opened[mark["detail"]] = mark["t"]
        elif mark["kind"] == "fault_off" and mark["detail"] in opened:
            windows.append((mark["detail"], opened.pop(mark["detail"]), mark["t"]))
        elif mark["kind"] == "faults_off":
            windows.extend((fault_id, start, mark["t"]) for fault_id, start in opened.items())
            opened.clear()
    windows.extend((fault_id, start, end) for fault_id, start in opened.items())
    return windows


def label_lanes(starts: list[float], labels: list[str], left: float, right: float) -> list[tuple[float, int, str]]:
    """(x, lane, anchor) for each fault label: beside the start of its window, in the first lane
    (text line) where it does not overlap a label placed before it; near the right edge it ends at
    its start instead of running out of the plot."""
    lanes: list[list[tuple[float, float]]] = []
    placed = []
    for start, label in zip(starts, labels, strict=True):
        width = len(label) * LABEL_CHAR_PX
        if start + 3 + width <= right:
            x, anchor, box = start + 3, "start", (start + 3, start + 3 + width)
        else:
            x, anchor, box = start - 3, "end", (start - 3 - width, start - 3)
        box = (max(box[0], left), box[1])
        lane = next(
            (i for i, taken in enumerate(lanes) if all(box[1] + 4 <= a or b + 4 <= box[0] for a, b in taken)),
            len(lanes),
        )
        if lane == len(lanes):
            lanes.append([])
        lanes[lane].append(box)
        placed.append((x, lane, anchor))
    return placed


def timeline_svg(timeline: dict[str, Any]) -> str:
    samples = timeline.get("samples") or []
    marks = timeline.get("marks") or []
    end = max([s["t"] for s in samples] + [m["t"] for m in marks] + [1.0])
    y_max = max([max(s[k] for k, _, _ in SERIES) for s in samples] + [1])
    y_step = _step(y_max)
    y_top = math.ceil(y_max / y_step) * y_step
    x_step = _step(end)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + t / end * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / y_top * plot_h

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#bbb"/>']
    windows = fault_windows(marks, end)
    for fault_id, start, stop in windows:
        parts.append(
            f'<rect x="{x(start):.1f}" y="{TOP}" width="{max(1.0, x(stop) - x(start)):.1f}" '
            f'height="{plot_h}" fill="#f4b400" fill-opacity="0.15"><title>{_esc(fault_id)}: '
            f"{start:.1f}s → {stop:.1f}s</title></rect>"
        )
    lanes = label_lanes([x(start) for _, start, _ in windows], [w[0] for w in windows], LEFT, LEFT + plot_w)
    for (fault_id, _, _), (label_x, lane, anchor) in zip(windows, lanes, strict=True):
        # A white halo keeps a label readable over the lines and the other windows' shading.
        parts.append(
            f'<text class="fault-label" x="{label_x:.1f}" y="{TOP + 12 + LABEL_LINE_PX * lane}" '
            f'font-size="{LABEL_FONT_PX}" text-anchor="{anchor}" fill="#8a6d00" stroke="#fff" stroke-width="3" '
            f'paint-order="stroke">{_esc(fault_id)}</text>'
        )
    value = 0.0
    while value <= y_top + 1e-9:
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#eee"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" font-size="11" text-anchor="end">{value:g}</text>'
        )
        value += y_step
    t = 0.0
    while t <= end + 1e-9:
        parts.append(f'<text x="{x(t):.1f}" y="{TOP + plot_h + 16}" font-size="11" text-anchor="middle">{t:g}</text>')
        t += x_step
    for mark in marks:
        if mark["kind"] in ("replay", "fix", "settle_timeout"):
            parts.append(
                f'<line x1="{x(mark["t"]):.1f}" x2="{x(mark["t"]):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
                f'stroke="#555" stroke-dasharray="4 3"><title>{_esc(mark["kind"])}: '
                f"{_esc(mark.get('detail', ''))}</title></line>"
            )
    for index, (key, label, color) in enumerate(SERIES):
        points = " ".join(f"{x(s['t']):.1f},{y(s[key]):.1f}" for s in samples)
        dash = ' stroke-dasharray="6 4"' if key in DASHED else ""
        if points:
            parts.append(
                f'<polyline class="series-{key}" fill="none" stroke="{color}" stroke-width="2"{dash} '
                f'points="{points}"/>'
            )
        legend_y = TOP + 14 + 18 * index
        parts.append(
            f'<line x1="{LEFT + plot_w + 12}" x2="{LEFT + plot_w + 32}" y1="{legend_y - 4}" '
            f'y2="{legend_y - 4}" stroke="{color}" stroke-width="3"{dash}/>'
            f'<text x="{LEFT + plot_w + 38}" y="{legend_y}" font-size="12">{_esc(label)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" font-size="12" text-anchor="middle">'
        "seconds since the drill started (shaded: faults on; dashed: fix / replay)</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="drill timeline">{"".join(parts)}</svg>'
    )


def _table(rows: list[tuple[Any, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows) + "</table>"


def _list(items: list[str], empty: str) -> str:
    if not items:
        return f"<p class='muted'>{_esc(empty)}</p>"
    return "<ul>" + "".join(f"<li>{_esc(i)}</li>" for i in items) + "</ul>"


def _events_table(phase: dict[str, Any] | None) -> str:
    if not phase:
        return "<p class='muted'>not reached</p>"
    columns = ("key", "event_id", "group", "label", "status", "applications", "attempts", "generation", "reason")
    headers = (
        "key",
        "event id",
        "group",
        "case",
        "status",
        "business items",
        "attempts",
        "replays",
        "reason",
        "finding",
    )
    rows = []
    for event in phase.get("events", []):
        css = "bad" if event.get("problem") else ("warn" if event.get("warning") else "")
        cells = [_esc(event.get(column) if event.get(column) is not None else "") for column in columns]
        cells.append(_esc(event.get("problem") or event.get("warning") or ""))
        rows.append(f"<tr class='{css}'>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return (
        "<details><summary>events</summary><table class='events'><tr>"
        + "".join(f"<th>{h}</th>" for h in headers)
        + "</tr>"
        + "".join(rows)
        + "</table></details>"
    )


def _phase(phase: dict[str, Any] | None) -> str:
    return _list((phase or {}).get("problems", []), "no problems") + _events_table(phase)


def _phases(result: DrillResult) -> str:
    return f"<h2>Before the fix</h2>{_phase(result.before_fix)}\n<h2>After the replay</h2>{_phase(result.after_replay)}"


def _jobs(jobs: dict[str, Any], title: str) -> str:
    """A drill's own reconciliation: its problems, and (a jobs drill) one row per accepted job."""
    columns = ("key", "job_id", "status", "consumer", "records_expected", "records_found", "problem")
    rows = "".join(
        f"<tr class='{'bad' if job.get('problem') else ''}'>"
        + "".join(f"<td>{_esc(job.get(c) if job.get(c) is not None else '')}</td>" for c in columns)
        + "</tr>"
        for job in jobs.get("jobs", [])
    )
    problems = f"<h2>{_esc(title)}</h2>{_list(jobs.get('problems', []), 'no problems')}"
    if "jobs" not in jobs:
        return problems
    return (
        problems
        + "<details><summary>jobs</summary><table class='events'><tr>"
        + "".join(f"<th>{_esc(c.replace('_', ' '))}</th>" for c in columns)
        + f"</tr>{rows}</table></details>"
    )


def render_html(result: DrillResult) -> str:
    counts = result.counts
    verdict_class = "pass" if result.passed else "fail"
    count_rows = [
        (label, (counts[key] or "none") if key == "rejected" else counts[key])
        for key, label in COUNT_LABELS
        if key in counts
    ]
    count_rows.append(("duration", f"{result.duration_s:.1f} s"))
    reasons = counts.get("dead_lettered_by_reason") or {}
    stage_rows = [
        ("target", result.target),
        ("stage", result.stage),
        ("run id", result.run_id),
        *((k.replace("_", " "), v) for k, v in result.timings.items()),
        *((k, v) for k, v in result.settings.items()),
    ]
    checks = [f"{'ok' if c['ok'] else 'FAILED'} — {c['name']}: {c['detail']}" for c in result.checks]
    warnings = [w for phase in (result.before_fix, result.after_replay) if phase for w in phase["warnings"]]
    reasons_html = _table(list(reasons.items())) if reasons else "<p class='muted'>none</p>"
    marks = "".join(
        f"<tr><td>{m['t']:.1f}</td><td>{_esc(m['kind'])}</td><td>{_esc(m.get('detail', ''))}</td></tr>"
        for m in result.timeline.get("marks", [])
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hookstack drill {_esc(result.drill)}: {result.verdict}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }}
h1 span.pass {{ color: #1a7f37; }} h1 span.fail {{ color: #cf222e; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }} th, td {{ border: 1px solid #ddd; padding: 3px 8px;
text-align: left; vertical-align: top; }} th {{ background: #f6f8fa; font-weight: 600; }}
tr.bad td {{ background: #ffebe9; }} tr.warn td {{ background: #fff8c5; }} .muted {{ color: #777; }}
code {{ font-size: 12px; }} .grid {{ display: flex; gap: 32px; flex-wrap: wrap; }}
</style></head><body>
<h1>Drill <code>{_esc(result.drill)}</code>: <span class="{verdict_class}">{result.verdict}</span></h1>
<p>{_esc(result.summary)}</p>
{_list(result.failures, "no failures")}
<h2>Timeline</h2>
{timeline_svg(result.timeline)}
<div class="grid"><div><h2>Counts</h2>{_table(count_rows)}</div>
<div><h2>Dead-letter reasons (before the fix)</h2>{reasons_html}
<h2>Stage</h2>{_table(stage_rows)}</div></div>
<h2>Drill checks</h2>{_list(checks, "none")}
<h2>Warnings</h2>{_list(warnings, "none")}
{_jobs(result.jobs, result.reconciliation_title) if result.jobs is not None else _phases(result)}
<h2>Marks</h2><table><tr><th>t (s)</th><th>what</th><th>detail</th></tr>{marks}</table>
{fidelity_section_html(result.fidelity)}
{f"<h2>Error</h2><pre>{_esc(result.error)}</pre>" if result.error else ""}
</body></html>
"""


def write_reports(result: DrillResult, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"{result.drill}-{result.run_id}"
    json_path, html_path = stem.with_suffix(".json"), stem.with_suffix(".html")
    json_path.write_text(json.dumps(result.as_dict(), indent=2, default=str) + "\n")
    html_path.write_text(render_html(result))
    return json_path, html_path
