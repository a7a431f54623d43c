"""The HTML report's section of a ``cdc-trickle`` run: what reached the partner (delivered,
undelivered, duplicates, order, leaked updates and deletes), the outgoing rate against the
partner's limit, and the lag from insert to the partner's 2xx (figures, over time, distribution).
The CDC queue's depth over time is the report's backlog chart."""

from __future__ import annotations

from typing import Any

from loadtests.model.cdc_traffic import DELETE, INSERT, UPDATE
from loadtests.report.html import _esc, _table, histogram_chart, line_chart

KINDS = (INSERT, UPDATE, DELETE)


def _v(value: Any) -> str:
    return "—" if value is None else f"{value:g}" if isinstance(value, int | float) else str(value)


def section(summary: dict[str, Any], plot: dict[str, Any]) -> str:
    cdc = summary.get("cdc")
    if not cdc:
        return ""
    trickle = summary.get("trickle") or {}
    limit = cdc["partner_limit"]
    by_key = summary.get("by_key") or {}
    write_rows = []
    for key, entry in by_key.items():
        ack = entry.get("ack") or {}
        write_rows.append([key, ack.get("count", 0), *(_v(ack.get(f"{k}_ms")) for k in ("p50", "p99", "max"))])
    allowed = f"{_v(limit['allowed_in_1s'])} (burst {limit['burst']} + {_v(limit['rate_per_s'])}/s)"
    drain = summary.get("trickle_drain_s")
    runs = (
        f"{trickle.get('mode')}: rate {_v(trickle.get('rate_per_s'))}/s, at most {_v(trickle.get('max_messages'))} "
        f"a run; {trickle.get('runs', 0)} run(s) fired, {trickle.get('runs_refused', 0)} stopped by the partner, "
        f"{trickle.get('failures', 0)} failed"
    )
    writes = cdc.get("writes") or {}
    queues = f"{_v(cdc.get('queue_left'))} / {_v(cdc.get('dlq_gained'))} / {_v(cdc.get('capture_failures'))}"
    counts = [
        ["writes acknowledged: inserts / updates / deletes", " / ".join(str(writes.get(k, 0)) for k in KINDS)],
        ["items inserted / updated / deleted", f"{cdc['inserted']} / {cdc['updated']} / {cdc['deleted']}"],
        ["delivered (2xx at the partner)", cdc["delivered"]],
        ["undelivered (inserted, never 2xx)", summary.get("undelivered")],
        ["duplicates at the partner", summary.get("duplicates")],
        ["per-customer order violations", summary.get("order_violations")],
        ["updates / deletes that reached the partner", f"{cdc['leaked_updates']} / {cdc['leaked_other']}"],
        ["answered 429 / by an injected fault", f"{summary.get('answered_429')} / {summary.get('answered_5xx')}"],
        ["most accepted in any 1 s / the partner's limit", f"{summary.get('most_in_1s')} / {allowed}"],
        ["limits exceeded", ", ".join(cdc["limits_exceeded"]) or "none"],
        ["delivered per second (first → last delivery)", _v(summary.get("delivered_per_s"))],
        ["last delivery after the load ended", "not all delivered" if drain is None else f"{drain:g} s"],
        ["trickle", runs],
        ["left on the CDC queue / DLQ gained / capture failures", queues],
    ]
    if cdc.get("undelivered_ids"):
        counts.append(["undelivered (first ids)", ", ".join(cdc["undelivered_ids"])])
    if cdc.get("partner_records_dropped"):
        counts.append(["partner records dropped (its log is bounded)", cdc["partner_records_dropped"]])
    duration = summary.get("duration_s")
    rate_lines = [
        ("delivered (first 2xx) /s", [(p[0], p[1]) for p in plot.get("cdc_delivered", [])]),
        ("accepted by the partner /s", [(p[0], p[1]) for p in plot.get("cdc_accepted", [])]),
        ("writes acknowledged /s", [(row["t"] + 0.5, row["acks"]) for row in plot.get("timeline", [])]),
    ]
    ends = max([duration or 0.0] + [p[0] for _, pts in rate_lines for p in pts])
    flat = set()
    for name, value in (("partner limit", limit["rate_per_s"]), ("trickle rate", trickle.get("rate_per_s"))):
        if value:
            flat.add(f"{name} {value:g}/s")
            rate_lines.append((f"{name} {value:g}/s", [(0.0, value), (ends, value)]))
    lag_rows = plot.get("cdc_lag", [])
    lag = [(name, [(row[0], row[index]) for row in lag_rows]) for index, name in ((1, "p50"), (2, "max"))]
    return "".join(
        [
            "<h2>CDC trickle at the partner</h2>",
            _table(counts),
            "<h3>Insert → the partner's 2xx</h3>",
            _table(
                [[cdc["delivered"], *(_v(summary.get(f"lag_{k}_ms")) for k in ("p50", "p90", "p99", "max"))]],
                ["delivered", "p50 ms", "p90 ms", "p99 ms", "max ms"],
            ),
            f"<p class='note'>{_esc(cdc['lag_basis'])}</p>",
            line_chart(
                "Outgoing rate at the partner against its limit (per second)",
                rate_lines,
                y_label="per second",
                load_end=duration,
                dashed=frozenset(flat),
            ),
            line_chart(
                "Lag insert → the partner's 2xx, by second of insert",
                lag,
                y_label="lag, ms",
                load_end=duration,
                dashed=frozenset({"max"}),
            ),
            histogram_chart(
                "Lag distribution (insert → the partner's 2xx)",
                plot.get("cdc_lag_bins", []),
                {name: summary.get(f"lag_{name}_ms") for name in ("p50", "p99")},
            ),
            "<h3>Write latency by kind</h3>",
            _table(write_rows, ["write", "acknowledged", "p50 ms", "p99 ms", "max ms"])
            if write_rows
            else "<p>No write was recorded.</p>",
        ]
    )
