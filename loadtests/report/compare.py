"""Two load runs side by side: their figures and deltas, and their latency percentile curves
overlaid, as a table for the terminal, a JSON document and a self-contained HTML page.

The first run is the baseline, the second the one set against it. A run's full percentile curve
comes from the HDR histogram its report directory keeps (``locust-result.json``); without that
file the curve is drawn through the percentiles of its summary.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from loadtests.model.baseline import Delta, deltas, read_summary, summary_path
from loadtests.report import latency
from loadtests.report.html import COLORS, HEIGHT, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, WIDTH

RESULT_FILE = "locust-result.json"  # written next to summary.json by the Locust child process
# Where the curve is read off the histogram; the maximum is drawn apart, at the right edge.
CURVE_PERCENTILES = (0.0, 25.0, 50.0, 75.0, 90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999)
SUMMARY_PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9))
AXIS_TICKS = ((0.0, "0"), (50.0, "50"), (90.0, "90"), (99.0, "99"), (99.9, "99.9"), (99.99, "99.99"))
MAX_NINES = 5.5  # the x position of the maximum, past p99.999 (5 nines)


def nines(percentile: float) -> float:
    """The percentile axis's position: 90 → 1, 99 → 2, 99.9 → 3 (the tail spread out)."""
    if percentile >= 100.0:
        return MAX_NINES
    return math.log10(100.0 / (100.0 - percentile))


@dataclass(frozen=True)
class Run:
    label: str
    summary_file: Path
    summary: dict[str, Any]
    curve: list[tuple[float, float]]  # (percentile, latency ms); 100 is the maximum
    curve_source: str

    def describe(self) -> dict[str, Any]:
        get = self.summary.get
        return {
            "label": self.label,
            "summary": str(self.summary_file),
            "scenario": get("scenario"),
            "target": get("target"),
            "started_at": get("started_at"),
            "duration_s": get("duration_s"),
            "offered_rps": get("offered_rps"),
            "requests": get("requests"),
            "curve_source": self.curve_source,
        }


def _histogram_curve(result_file: Path, max_ms: float | None) -> list[tuple[float, float]] | None:
    try:
        encoded = json.loads(result_file.read_text(encoding="utf-8"))["histograms"]["latency"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no kept histogram: the summary's percentiles draw the curve
    if not encoded:
        return None
    histogram = latency.decode(encoded)
    values = histogram.get_percentile_to_value_dict(list(CURVE_PERCENTILES))
    top = max_ms if max_ms is not None else histogram.get_max_value() / 1000
    # A percentile is its bucket's upper edge: never above the true maximum (as the summary does).
    curve = [(p, round(min(values[p] / 1000, top), 3)) for p in CURVE_PERCENTILES]
    return curve + [(100.0, top)]


def _summary_curve(summary: dict[str, Any]) -> list[tuple[float, float]]:
    points = [(p, summary.get(f"{name}_ms")) for name, p in SUMMARY_PERCENTILES] + [(100.0, summary.get("max_ms"))]
    return [(p, float(value)) for p, value in points if isinstance(value, int | float)]


def read_run(path: Path) -> Run:
    """A run given as its summary.json or its report directory."""
    summary = read_summary(path)
    file = summary_path(path)
    max_ms = summary.get("max_ms")
    curve = _histogram_curve(file.parent / RESULT_FILE, max_ms if isinstance(max_ms, int | float) else None)
    label = file.parent.name if file.name == "summary.json" else file.name
    if curve is not None:
        return Run(label, file, summary, curve, "HDR histogram")
    return Run(label, file, summary, _summary_curve(summary), "summary percentiles")


def comparison(baseline: Run, current: Run) -> dict[str, Any]:
    """The JSON form: both runs and the change of each compared figure."""
    return {
        "baseline": baseline.describe(),
        "current": current.describe(),
        "deltas": [delta.as_dict() for delta in deltas(current.summary, baseline.summary)],
    }


_VERDICT_STYLE = {"worse": "red", "better": "green"}


def delta_table(rows: Sequence[Delta], baseline_label: str, current_label: str) -> Table:
    """The terminal table (fits 80 columns): figure, both values, change."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, title=f"{current_label} against {baseline_label}")
    table.add_column("figure", no_wrap=True)
    table.add_column("baseline", justify="right", no_wrap=True)
    table.add_column("this run", justify="right", no_wrap=True)
    table.add_column("change", justify="right")
    for row in rows:
        style = _VERDICT_STYLE.get(row.verdict)
        change = f"[{style}]{row.change_text}[/]" if style else row.change_text
        table.add_row(row.metric.label, row.value_text(row.baseline), row.value_text(row.current), change)
    return table


def _esc(value: Any) -> str:
    return html.escape("—" if value is None else str(value))


def percentile_chart(runs: Sequence[Run]) -> str:
    """The runs' latency percentile curves on one log-scaled latency axis."""
    values = [ms for run in runs for _, ms in run.curve if ms > 0]
    if not values:
        return "<p>Latency percentiles: no answered request in either run.</p>"
    low = 10 ** math.floor(math.log10(min(values)))
    high = 10 ** math.ceil(math.log10(max(values) * 1.0001))
    high = max(high, low * 10)
    left, top = MARGIN_LEFT, MARGIN_TOP
    width, height = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(percentile: float) -> float:
        return left + nines(percentile) / MAX_NINES * width

    def y(ms: float) -> float:
        share = (math.log10(max(ms, low)) - math.log10(low)) / (math.log10(high) - math.log10(low))
        return top + height - share * height

    parts = [f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="#fff" stroke="#bbb"/>']
    for exponent in range(round(math.log10(low)), round(math.log10(high)) + 1):
        tick = 10.0**exponent
        parts.append(f'<line x1="{left}" x2="{left + width}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for percentile, label in (*AXIS_TICKS, (100.0, "max")):
        parts.append(f'<text x="{x(percentile):.1f}" y="{top + height + 16}" text-anchor="middle">{label}</text>')
    parts.append(
        f'<text x="{left + width / 2}" y="{HEIGHT - 6}" text-anchor="middle">percentile (the tail spread out)</text>'
    )
    parts.append(
        f'<text transform="translate(14,{top + height / 2}) rotate(-90)" text-anchor="middle">latency, ms (log)</text>'
    )
    for index, run in enumerate(runs):
        color = COLORS[index % len(COLORS)]
        coords = " ".join(f"{x(p):.1f},{y(ms):.1f}" for p, ms in run.curve)
        dash = ' stroke-dasharray="5 3"' if index == 0 else ""
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.8"{dash} points="{coords}"/>')
        legend_y = top + 10 + index * 16
        parts.append(f'<rect x="{WIDTH - MARGIN_RIGHT + 12}" y="{legend_y - 8}" width="14" height="3" fill="{color}"/>')
        parts.append(f'<text x="{WIDTH - MARGIN_RIGHT + 32}" y="{legend_y - 3}">{_esc(run.label[:18])}</text>')
    return (
        "<figure><figcaption>Acknowledgement latency by percentile (baseline dashed)</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" font-family="sans-serif" font-size="11">{"".join(parts)}</svg></figure>'
    )


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f5f5f5}.worse{color:#c62828;font-weight:bold}.better{color:#1a7f37;font-weight:bold}
figure{margin:12px 0}figcaption{font-weight:bold;margin-bottom:4px}.note{color:#666;font-size:13px}
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{_esc(cell)}</th>" for cell in header)
    body = "".join(
        f'<tr class="{classes[i] if i < len(classes) else ""}">' + "".join(f"<td>{_esc(cell)}</td>" for cell in row)
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(baseline: Run, current: Run) -> str:
    """The comparison page as one string (opens offline)."""
    rows = deltas(current.summary, baseline.summary)
    runs = (baseline, current)
    run_rows = [
        [key, *(_esc(run.describe()[key]) for run in runs)]
        for key in ("summary", "scenario", "target", "started_at", "duration_s", "offered_rps", "requests")
    ]
    figure_rows = [
        [row.metric.label, row.value_text(row.baseline), row.value_text(row.current), row.change_text, row.verdict]
        for row in rows
    ]
    sources = "; ".join(f"{run.label}: {run.curve_source}" for run in runs)
    body = [
        f"<h1>hookstack load — {_esc(current.label)} against {_esc(baseline.label)}</h1>",
        "<h2>Runs</h2>",
        _table(["", f"baseline: {baseline.label}", f"this run: {current.label}"], run_rows),
        "<h2>Figures</h2>",
        _table(["figure", "baseline", "this run", "change", "verdict"], figure_rows, [row.verdict for row in rows]),
        "<h2>Latency percentiles</h2>",
        percentile_chart(runs),
        f"<p class='note'>Curves from: {_esc(sources)}.</p>",
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>hookstack load comparison</title>"
        f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
    )
