"""The HTML report's parts for comparing runs (``loadtests.report.breakdown``), and its notices:
a run stopped by hand, cold starts inside the measured window, a stage that was not quiet."""

from __future__ import annotations

from typing import Any

from loadtests.report import cold_starts
from loadtests.report.html import _esc, _table, histogram_chart, line_chart, render

_MS = ("p50_ms", "p99_ms", "max_ms")


def _ms(value: Any) -> str:
    return "—" if value is None else f"{value:g}"


def notices(summary: dict[str, Any]) -> str:
    """Warnings that change how every figure below reads: shown first."""
    parts = []
    if summary.get("interrupted"):
        parts.append(
            f"<div class='warn'><b>Interrupted</b> during the {_esc(summary.get('interrupted_during', 'run'))} "
            f"(Ctrl-C): {_esc(summary.get('measured_s'))} s of {_esc(summary.get('planned_duration_s'))} s "
            "measured. These are partial figures.</div>"
        )
    for note in summary.get("stage_notes", []):
        parts.append(f"<div class='warn'>{_esc(note)}</div>")
    cold = cold_starts.note(summary.get("cold_starts"))
    if cold:
        parts.append(f"<div class='warn'>{_esc(cold)}</div>")
    return "".join(parts)


def _key_rows(summary: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for key, figures in (summary.get("by_key") or {}).items():
        ack, e2e = figures.get("ack") or {}, figures.get("e2e") or {}
        rows.append(
            [key, ack.get("count", 0), *(_ms(ack.get(k)) for k in _MS), e2e.get("count", "—"),
             *(_ms(e2e.get(k)) for k in ("p50_ms", "p99_ms"))]
        )  # fmt: skip
    return rows


def _status_rows(summary: dict[str, Any]) -> list[list[Any]]:
    non_2xx = summary.get("non_2xx") or {}
    return [
        [status, figures.get("count"), *(_ms(figures.get(k)) for k in _MS)]
        for status, figures in (non_2xx.get("by_status") or {}).items()
    ]


def sections(summary: dict[str, Any], plot: dict[str, Any]) -> str:
    duration = summary.get("duration_s")
    key_rows = _key_rows(summary)
    status_rows = _status_rows(summary)
    errors = plot.get("errors_timeline", [])
    statuses = sorted({key for row in errors for key in row if key != "t"})
    error_series = [(status, [(row["t"] + 0.5, row.get(status, 0)) for row in errors]) for status in statuses]
    e2e_rows = plot.get("e2e_timeline", [])
    e2e_series = [(name, [(row["t"] + 0.5, row[f"{name}_ms"]) for row in e2e_rows]) for name in ("p50", "p99", "max")]
    e2e_markers = {name: summary.get(f"e2e_{name}_ms") for name in ("p50", "p99", "p999")}
    measured_e2e = (summary.get("e2e") or {}).get("available")
    return "".join(
        [
            "<h2>Per provider and topic</h2>",
            _table(
                key_rows,
                [
                    "provider topic",
                    "acks",
                    "ack p50 ms",
                    "ack p99 ms",
                    "ack max ms",
                    "processed",
                    "e2e p50 ms",
                    "e2e p99 ms",
                ],
            )  # fmt: skip
            if key_rows
            else "<p>No acknowledgement was recorded per provider and topic.</p>",
            "<h2>Answers other than 2xx</h2>",
            "<p class='note'>Latency on the same basis as the acknowledgements; transport errors (no answer) "
            "are counted over time but have no latency.</p>",
            _table(status_rows, ["status", "answers", "p50 ms", "p99 ms", "max ms"])
            if status_rows
            else "<p>Every answer was a 2xx.</p>",
            line_chart(
                "Errors over time by status code (per second)",
                error_series,
                y_label="answers per second",
                load_end=duration,
            )  # fmt: skip
            if error_series
            else "",
            "<h2>End to end</h2>",
            histogram_chart("End-to-end latency distribution (202 → processed)", plot.get("e2e_bins", []), e2e_markers)
            if measured_e2e
            else f"<p>End to end: not measured ({_esc((summary.get('e2e') or {}).get('reason', 'not measured'))}).</p>",
            line_chart(
                "End-to-end latency over time (by second of receipt)",
                e2e_series,
                y_label="latency, ms (log scale)",
                log_y=True,
                load_end=duration,
                dashed=frozenset({"max"}),
            )  # fmt: skip
            if measured_e2e and e2e_rows
            else "",
        ]
    )


def report_page(summary: dict[str, Any], plot: dict[str, Any]) -> str:
    """The run's report page, with its notices and the sections above."""
    return render(summary, plot, notices=notices(summary), extra_sections=sections(summary, plot))
