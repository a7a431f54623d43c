"""A self-contained HTML report: figures, gates, and inline SVG plots (opens offline)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

from loadtests.report import forecast as load_forecast
from stack.fidelity.report_section import fidelity_section_html

WIDTH, HEIGHT = 880, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 150, 28, 40
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")

Point = tuple[float, float]


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _nice_step(span: float, ticks: int = 5) -> float:
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    if abs(value) >= 1:
        return f"{value:g}"
    return f"{value:.3g}"


class _Frame:
    """Maps data to the plot area; linear x, linear or log10 y."""

    def __init__(
        self,
        x_max: float,
        y_min: float,
        y_max: float,
        log_y: bool,
        x_min: float = 0.0,
        log_x: bool = False,
        min_tick: float = 0.0,
    ):
        self.log_y, self.log_x, self.min_tick = log_y, log_x, min_tick
        self.x_min, self.x_max = x_min, max(x_max, x_min + 1e-9)
        if log_y:
            self.y_min = 10 ** math.floor(math.log10(max(y_min, 1e-3)))
            self.y_max = 10 ** math.ceil(math.log10(max(y_max, self.y_min * 10)))
        else:
            step = _nice_step(max(y_max, 1e-9))
            self.y_min, self.y_max = 0.0, max(step, math.ceil(y_max / step) * step)
        self.left, self.top = MARGIN_LEFT, MARGIN_TOP
        self.width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
        self.height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(self, value: float) -> float:
        if self.log_x:
            low, high = math.log10(self.x_min), math.log10(self.x_max)
            share = (math.log10(max(value, self.x_min)) - low) / (high - low or 1)
        else:
            share = (value - self.x_min) / (self.x_max - self.x_min)
        return self.left + share * self.width

    def y(self, value: float) -> float:
        if self.log_y:
            low, high = math.log10(self.y_min), math.log10(self.y_max)
            share = (math.log10(max(value, self.y_min)) - low) / (high - low)
        else:
            share = (value - self.y_min) / (self.y_max - self.y_min)
        return self.top + self.height - share * self.height

    def axes(self, x_label: str, y_label: str) -> list[str]:
        parts = [
            f'<rect x="{self.left}" y="{self.top}" width="{self.width}" height="{self.height}" '
            'fill="#fff" stroke="#bbb"/>'
        ]
        if self.log_y:
            exponent = round(math.log10(self.y_min))
            y_ticks = [10.0**e for e in range(exponent, round(math.log10(self.y_max)) + 1) if 10.0**e >= self.min_tick]
        else:
            step = _nice_step(self.y_max)
            y_ticks = [i * step for i in range(int(round(self.y_max / step)) + 1)]
        for tick in y_ticks:
            y = self.y(tick)
            parts.append(
                f'<line x1="{self.left}" x2="{self.left + self.width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            )
            parts.append(f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
        if self.log_x:
            low, high = math.floor(math.log10(self.x_min)), math.ceil(math.log10(self.x_max))
            x_ticks = [
                m * 10.0**e for e in range(low, high + 1) for m in (1, 2, 5) if self.x_min <= m * 10.0**e <= self.x_max
            ]
        else:
            step = _nice_step(self.x_max - self.x_min, 8)
            first = math.ceil(self.x_min / step) * step
            x_ticks = [first + i * step for i in range(int((self.x_max - first) / step) + 1)]
        for tick in x_ticks:
            x = self.x(tick)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.top + self.height}" '
                f'y2="{self.top + self.height + 4}" stroke="#888"/>'
            )
            parts.append(
                f'<text x="{x:.1f}" y="{self.top + self.height + 16}" text-anchor="middle">{_fmt(tick)}</text>'
            )
        parts.append(
            f'<text x="{self.left + self.width / 2}" y="{HEIGHT - 6}" text-anchor="middle">{_esc(x_label)}</text>'
        )
        parts.append(
            f'<text transform="translate(14,{self.top + self.height / 2}) rotate(-90)" '
            f'text-anchor="middle">{_esc(y_label)}</text>'
        )
        return parts


def _svg(title: str, parts: list[str]) -> str:
    return (
        f'<figure><figcaption>{_esc(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" '
        f'font-size="11">{"".join(parts)}</svg></figure>'
    )


def _legend(names: Sequence[tuple[str, str] | tuple[str, str, bool]]) -> list[str]:
    parts = []
    for index, entry in enumerate(names):
        name, color = entry[0], entry[1]
        dashed = len(entry) > 2 and entry[2]
        y = MARGIN_TOP + 10 + index * 16
        x = WIDTH - MARGIN_RIGHT + 12
        if dashed:
            parts.append(
                f'<line x1="{x}" x2="{x + 14}" y1="{y - 7}" y2="{y - 7}" stroke="{color}" '
                f'stroke-width="2" stroke-dasharray="{_DASH}"/>'
            )
        else:
            parts.append(f'<rect x="{x}" y="{y - 8}" width="14" height="3" fill="{color}"/>')
        parts.append(f'<text x="{x + 20}" y="{y - 3}">{_esc(name)}</text>')
    return parts


_DASH = "4 3"


def line_chart(
    title: str,
    series: Sequence[tuple[str, Sequence[Point]]],
    *,
    y_label: str,
    x_label: str = "seconds since the load started",
    log_y: bool = False,
    x_max: float | None = None,
    load_end: float | None = None,
    dashed: frozenset[str] = frozenset(),
) -> str:
    """Lines over time. Series named in ``dashed`` are drawn dashed and last, so a line they
    coincide with (p99 = max at low rates, acknowledged = offered) still shows through."""
    points = [p for _, pts in series for p in pts if p[1] is not None]
    if not points:
        return _svg(title, [f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text>'])
    positive = [p[1] for p in points if p[1] > 0] or [1.0]
    top = max(p[1] for p in points)
    # Linear axes get headroom: a line at the maximum must not run along the frame's top edge.
    frame = _Frame(
        max([x_max or 0.0] + [p[0] for p in points]),
        min(positive),
        top if log_y else top * 1.05,
        log_y,
        x_min=min(0.0, min(p[0] for p in points)),
    )
    parts = frame.axes(x_label, y_label)
    if load_end is not None and frame.x_min <= load_end <= frame.x_max:
        x = frame.x(load_end)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top}" y2="{frame.top + frame.height}" '
            'stroke="#999" stroke-dasharray="5 4"/>'
        )
        parts.append(f'<text x="{x - 4:.1f}" y="{frame.top + 12}" fill="#777" text-anchor="end">load ends</text>')
    legend = []
    lines: list[tuple[bool, str]] = []
    for index, (name, pts) in enumerate(series):
        color = COLORS[index % len(COLORS)]
        is_dashed = name in dashed
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in pts if y is not None)
        if coords:
            style = f'stroke-width="1.8" stroke-dasharray="{_DASH}"' if is_dashed else 'stroke-width="1.6"'
            lines.append((is_dashed, f'<polyline fill="none" stroke="{color}" {style} points="{coords}"/>'))
        legend.append((name, color, is_dashed))
    parts += [line for _, line in sorted(lines, key=lambda item: item[0])]  # solid first, dashed on top
    return _svg(title, parts + _legend(legend))


def histogram_chart(title: str, bins: Sequence[Sequence[float]], markers: dict[str, float | None]) -> str:
    """Bars on a log-scaled latency axis, with percentile markers."""
    bins = [b for b in bins if b[2] > 0]
    if not bins:
        return _svg(title, [f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data</text>'])
    low, high = bins[0][0], bins[-1][1]
    # Log counts too: a tail of ten slow requests must show beside thousands of fast ones.
    frame = _Frame(high, 0.5, max(b[2] for b in bins), log_y=True, x_min=low, log_x=True, min_tick=1)
    parts = frame.axes("latency (ms, log scale)", "requests (log)")
    for lower, upper, count in bins:
        x1, x2 = frame.x(lower), frame.x(upper)
        y = frame.y(count)
        parts.append(
            f'<rect x="{x1:.1f}" y="{y:.1f}" width="{max(1.0, x2 - x1 - 1):.1f}" '
            f'height="{frame.top + frame.height - y:.1f}" fill="{COLORS[0]}" opacity="0.8"/>'
        )
    legend = []
    for index, (name, value) in enumerate(markers.items()):
        if value is None or not low <= value <= high:
            continue
        color = COLORS[(index + 1) % len(COLORS)]
        x = frame.x(value)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.top}" y2="{frame.top + frame.height}" '
            f'stroke="{color}" stroke-dasharray="4 3"/>'
        )
        legend.append((f"{name} {value:g} ms", color, True))
    return _svg(title, parts + _legend(legend))


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_esc('—' if c is None else c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{f'<thead><tr>{head}</tr></thead>' if head else ''}<tbody>{body}</tbody></table>"


_HOP_SOURCES = {"handler": "handler duration_ms", "runtime": "REPORT Duration"}
_HOP_HEADER = ["hop", "source", "count", "mean ms", "p50 ms", "p99 ms", "max ms"]


def _cell_ms(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _stats_row(hop: str, source: str, stats: dict[str, Any]) -> list[Any]:
    return [
        hop,
        source,
        stats.get("count"),
        *(_cell_ms(stats.get(k)) for k in ("mean_ms", "p50_ms", "p99_ms", "max_ms")),
    ]


def _hop_rows(summary: dict[str, Any]) -> str:
    per_hop = summary.get("per_hop") or {}
    rows = [
        _stats_row(
            "client",
            "acknowledgement: intended start → 202",
            {"count": summary.get("acks"), **{k: summary.get(k) for k in ("mean_ms", "p50_ms", "p99_ms", "max_ms")}},
        )
    ]
    notes = []
    for hop in ("authorizer", "producer", "worker"):
        data = per_hop.get(hop) or {}
        if not data.get("available"):
            notes.append(f"{hop}: {data.get('reason') or per_hop.get('reason') or 'not available on this target'}")
            continue
        if data.get("source") == "events table":
            rows.append(_stats_row(hop, "events table: processed_at − processing_at", data["handler"]))
            continue
        measured = [key for key in _HOP_SOURCES if (data.get(key) or {}).get("count")]
        if not measured:
            notes.append(
                f"{hop}: no invocation logged during the load"
                + (" (its decisions were cached)" if hop == "authorizer" else "")
            )
        for key in measured:
            rows.append(_stats_row(hop, f"{data.get('source', 'function logs')}: {_HOP_SOURCES[key]}", data[key]))
    text = "".join(f"<li>{_esc(note)}</li>" for note in notes)
    return _table(rows, _HOP_HEADER) + (f"<ul>{text}</ul>" if notes else "")


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f5f5f5}.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}
.warn{background:#fff4e5;border:1px solid #f0b35b;padding:8px 12px}figure{margin:12px 0}
figcaption{font-weight:bold;margin-bottom:4px}code{background:#f3f3f3;padding:1px 4px}
summary{cursor:pointer;color:#555}.note{color:#666;font-size:13px;margin-top:-6px}
"""


def _ms(value: Any) -> str:
    """A duration given in ms, to 3 significant digits (HDR precision), in ms or, from 10 s, in s."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.3g} ms"


def _num(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _share(value: Any) -> str:
    return "—" if not isinstance(value, int | float) else f"{value * 100:.2f} %"


def _started(summary: dict[str, Any]) -> str:
    text = str(summary.get("started_at") or "")
    return text[:19].replace("T", " ") + " UTC" if text.endswith("+00:00") else text


def _gate_measured(gate: dict[str, Any]) -> str:
    from loadtests.model.gates import METRICS, format_value

    metric = next((m for m in METRICS.values() if m.key == gate.get("metric")), None)
    measured = gate.get("measured")
    if measured is None:
        return "not measured on this run"
    return format_value(metric, measured) if metric is not None else str(measured)


def generator_limits(summary: dict[str, Any]) -> str | None:
    """How the load generator, not the target, limited the run ("yes: …"), or None. One answer
    for the banner, the figures and the terminal: a generator process at its CPU limit or late on
    its schedule (``generator_saturated``), or an open-model user pool too small to keep the
    schedule (``pool_exhausted``)."""
    causes = [
        cause
        for key, cause in (("generator_saturated", "generator saturated"), ("pool_exhausted", "user pool exhausted"))
        if summary.get(key)
    ]
    return f"yes: {', '.join(causes)}" if causes else None


def _figures(summary: dict[str, Any]) -> list[list[str]]:
    get = summary.get
    rows = [
        ["offered rate", f"{_num(get('offered_rps'))} req/s ({_num(get('offered_requests'))} requests)"],
        [
            "achieved rate",
            f"{_num(get('achieved_rps'))} req/s ({_num(get('completed'))} answered, "
            f"{_num(get('abandoned'))} abandoned)",
        ],
        ["latency basis", str(get("latency_basis"))],
        ["ack p50 / p90 / p95", " / ".join(_ms(get(f"{k}_ms")) for k in ("p50", "p90", "p95"))],
        ["ack p99 / p99.9 / max", " / ".join(_ms(get(f"{k}_ms")) for k in ("p99", "p999", "max"))],
        [
            "service time p50 / p99 / max (send → answer)",
            " / ".join(_ms(get(f"service_{k}_ms")) for k in ("p50", "p99", "max")),
        ],
        [
            "schedule lag p99 / max (intended start → send)",
            f"{_ms(get('schedule_lag_p99_ms'))} / {_ms(get('schedule_lag_max_ms'))}",
        ],
        ["error rate", f"{_share(get('error_rate'))} ({_num(get('errors'))} requests)"],
        ["slower than a provider's 5 s timeout", _num(get("slower_than_provider_timeout"))],
        ["retries sent (same webhook id)", _num(get("retries_sent"))],
        ["accepted (distinct events)", _num(get("accepted"))],
    ]
    e2e = get("e2e") or {}
    if e2e.get("available"):
        rows += [
            [
                "processed / dead-lettered / missing",
                f"{_num(get('processed'))} / {_num(get('dead_lettered'))} / {_num(get('missing'))}",
            ],
            [
                "end to end p50 / p99 / max (202 → processed)",
                " / ".join(_ms(get(f"e2e_{k}_ms")) for k in ("p50", "p99", "max")),
            ],
            [
                "backlog drained after the load ended",
                "not drained (timed out)" if get("drain_seconds") is None else f"{get('drain_seconds'):g} s",
            ],
        ]
    else:
        rows.append(["end to end", f"not measured: {e2e.get('reason', 'not measured')}"])
    rows.append(["load generator limited this run", generator_limits(summary) or "no"])
    return rows


def _timeline_series(timeline: list[dict[str, Any]], key: str) -> list[Point]:
    # A row counts what was answered in [t, t+1): plotted at the middle of its second.
    return [(row["t"] + 0.5, row[key]) for row in timeline if row.get(key) is not None]


def _offered_steps(offered: list[list[float]], duration: float | None) -> list[Point]:
    """The offered rate as steps: each second's rate held over the whole second."""
    points: list[Point] = []
    for index, (t, rate) in enumerate(offered):
        end = offered[index + 1][0] if index + 1 < len(offered) else (duration or t + 1)
        points += [(t, rate), (end, rate)]
    return points


def _event_plane_chart(plane: dict[str, Any], duration: float | None) -> str:
    if not plane.get("available"):
        reason = plane.get("reason", "not collected")
        return f"<p>Worker concurrency over time: not available ({_esc(reason)}).</p>"
    rows = plane.get("timeline", [])
    series = [
        (name, [(row[0], row[index]) for row in rows])
        for index, name in ((1, "batches in flight"), (2, "message groups in flight"), (3, "events done per second"))
    ]
    return line_chart(
        f"Worker concurrency over time (event plane; concurrency limit {plane.get('concurrency_limit')})",
        series,
        y_label="batches · groups · events/s",
        load_end=duration,
    )


def _on_aws(summary: dict[str, Any]) -> str:
    """The forecast of what this traffic meets on AWS (``summary["forecast"]``)."""
    table = load_forecast.report_table(summary.get("forecast"))
    if table is None:
        return ""
    header, rows, notes = table
    items = "".join(f"<li>{_esc(note)}</li>" for note in notes)
    return f"<h2>On AWS</h2>{_table(rows, header)}<ul class='note'>{items}</ul>"


def render(summary: dict[str, Any], plot: dict[str, Any], *, notices: str = "", extra_sections: str = "") -> str:
    """The whole report page as one string; ``notices`` go above everything, ``extra_sections``
    after the distribution (``loadtests.report.breakdown_html`` renders both)."""
    passed = summary.get("passed", True)
    verdict = '<span class="pass">PASSED</span>' if passed else '<span class="fail">FAILED</span>'
    timeline = plot.get("timeline", [])
    duration = summary.get("duration_s")
    latency_series = [
        (name, _timeline_series(timeline, key))
        for name, key in (("p50", "p50_ms"), ("p99", "p99_ms"), ("max", "max_ms"))
    ]
    throughput = [
        ("offered", _offered_steps(plot.get("offered", []), duration)),
        ("acknowledged (2xx)", _timeline_series(timeline, "acks")),
        ("other answers", _timeline_series(timeline, "others")),
    ]
    backlog = plot.get("backlog", [])
    backlog_series = [
        (name, [(row[0], row[index]) for row in backlog])
        for index, name in ((1, "queue visible"), (2, "queue in flight"), (3, "DLQ visible"))
    ]
    saturation = ""
    if generator_limits(summary):
        notes = "".join(f"<li>{_esc(n)}</li>" for n in summary.get("generator_notes", []))
        saturation = (
            f'<div class="warn"><b>The load generator limited this run</b> — figures describe the '
            f"generator as much as the target.<ul>{notes}</ul></div>"
        )
    gates = summary.get("gates", [])
    gate_rows = [[g["gate"], _gate_measured(g), "passed" if g["passed"] else "FAILED"] for g in gates]
    cpu_rows = [
        [node, c["mean_percent"], c["p90_percent"], c["max_percent"], c["samples"]]
        for node, c in summary.get("generator_cpu", {}).items()
    ]
    time_axis = max([duration or 0] + [point[0] for _, pts in latency_series + throughput for point in pts])
    markers = {name: summary.get(f"{name}_ms") for name in ("p50", "p99", "p999")}
    body = [
        f"<h1>hookstack load — {_esc(summary.get('scenario'))} on {_esc(summary.get('target'))} {verdict}</h1>",
        f"<p>{_esc(_started(summary))} · {_esc(summary.get('mode'))} model · "
        f"{_esc(_num(duration))} s of load · {_esc(summary.get('processes'))} process(es) · "
        f"{_esc(summary.get('users'))} users · <code>{_esc(summary.get('url'))}</code></p>",
        notices,
        saturation,
        "<h2>Gates</h2>",
        _table(gate_rows, ["gate", "measured", "result"]) if gate_rows else "<p>No gates.</p>",
        "<h2>Figures</h2>",
        _table(_figures(summary)),
        line_chart(
            "Acknowledgement latency over time (per second of answers)",
            latency_series,
            y_label="latency, ms (log scale)",
            log_y=True,
            x_max=time_axis,
            load_end=duration,
            dashed=frozenset({"max"}),
        ),
        line_chart(
            "Throughput (per second)",
            throughput,
            y_label="requests per second",
            x_max=time_axis,
            load_end=duration,
            dashed=frozenset({"offered"}),
        ),
        "<p class='note'>Answers are counted per clock second, so the first and last points cover part of "
        "a second of load and read low.</p>",
        histogram_chart("Acknowledgement latency distribution", plot.get("bins", []), markers),
        extra_sections,
        line_chart("Backlog depth (sampled every second)", backlog_series, y_label="messages", load_end=duration)
        if backlog
        else "<p>Backlog depth: not sampled (the queues are read only with a deployed stack: --target).</p>",
        _event_plane_chart(summary.get("event_plane") or {}, duration),
        _on_aws(summary),
        fidelity_section_html(summary.get("fidelity")),
        "<h2>Status codes</h2>",
        _table(sorted(summary.get("status_counts", {}).items()), ["status", "count"]),
        "<h2>Per hop</h2>",
        _hop_rows(summary),
        "<h2>Generator</h2>",
        _table(cpu_rows, ["process", "mean CPU %", "p90 CPU %", "max CPU %", "samples"]),
        "<h2>Summary (JSON)</h2>",
        f"<details><summary>summary.json</summary><pre>{_esc(json.dumps(summary, indent=2, default=str))}</pre>"
        "</details>",
    ]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>hookstack load report</title>"
        f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
    )
