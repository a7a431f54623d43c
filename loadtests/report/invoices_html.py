"""The HTML report's section of an ``invoice-batch`` run: what became of the invoices, the batch's
span and rate, submit → final (figures, distribution, course over time), each step's latency,
retries, compensations, bookings, and the 202 latency per payment method."""

from __future__ import annotations

from typing import Any

from loadtests.report.html import _esc, _table, histogram_chart, line_chart


def _v(value: Any) -> str:
    return "—" if value is None else f"{value:g}" if isinstance(value, int | float) else _esc(value)


def _counts(summary: dict[str, Any], invoices: dict[str, Any]) -> list[list[Any]]:
    refused = ", ".join(f"{status}: {n}" for status, n in invoices["refused_by_status"].items()) or "none"
    rows: list[list[Any]] = [
        ["submitted", invoices["submitted"]],
        ["accepted (202)", invoices["accepted"]],
        ["refused, by status", refused],
    ]
    if not invoices.get("followed"):
        return rows
    timed_out = " (timed out)" if invoices["follow_timed_out"] else ""
    return rows + [
        ["succeeded", invoices["succeeded"]],
        ["failed (compensated)", f"{invoices['failed']} ({invoices['compensated']})"],
        ["unfinished (work still queued or running)", invoices["unfinished"]],
        ["lost (no item, or not final with nothing left to run it)", invoices["lost"]],
        ["first submission → all complete",
         f"{_v(summary.get('all_complete_s'))} s ({_esc(invoices['all_complete_basis'])})"],
        ["executions per second",
         f"{_v(summary.get('executions_per_s'))} ({_esc(invoices['executions_per_s_basis'])})"],
        ["followed for", f"{invoices['waited_s']} s, {invoices['polls']} polls{timed_out}"],
    ]  # fmt: skip


def _bookings(bookings: dict[str, Any]) -> str:
    if not bookings.get("measured"):
        return f"<p>Bookings per invoice: not measured ({_esc(bookings.get('reason'))}).</p>"
    return _table(
        [
            ["booked exactly once", bookings["booked_once"]],
            ["booked more than once", bookings["double_booked"]],
            ["SUCCEEDED without a booking", bookings["not_booked"]],
            ["booking id differs from the accounting API's", bookings["mismatched"]],
            ["requests answered from the idempotency store", bookings["repeated_requests"]],
        ],
        ["accounting API (partner simulator records)", "invoices"],
    )


def _retries(retries: dict[str, Any]) -> str:
    if not retries.get("measured"):
        return f"<p>Retries: not measured ({_esc(retries.get('reason'))}).</p>"
    rows = [[f"step {step}", n] for step, n in retries["by_step"].items()]
    rows += [[f"error {error}", n] for error, n in retries["by_error"].items()]
    note = (
        f"<p class='note'>{_esc(retries['basis'])}; {retries['histories_read']} of {retries['executions']} "
        f"histories read{'; ' + _esc(retries['reason']) if retries.get('reason') else ''}.</p>"
    )
    return note + (_table(rows, ["retried attempts", "count"]) if rows else "<p>No retried attempt.</p>")


def section(summary: dict[str, Any], plot: dict[str, Any]) -> str:
    invoices = summary.get("invoices")
    if not invoices:
        return ""
    parts = ["<h2>Invoices</h2>", _table(_counts(summary, invoices))]
    if invoices.get("followed"):
        final = invoices["final"]
        course = plot.get("invoices_timeline") or {}
        parts += [
            "<h3>Submit → final status</h3>",
            f"<p class='note'>{_esc(invoices['final_basis'])}</p>",
            _table(
                [[final["count"], *(_v(final.get(f"{k}_ms")) for k in ("p50", "p90", "p99", "max"))]],
                ["invoices", "p50 ms", "p90 ms", "p99 ms", "max ms"],
            ),
            histogram_chart(
                "Submit → final status distribution (invoice item)",
                plot.get("invoices_final_bins", []),
                {name: summary.get(f"invoices_{name}_ms") for name in ("p50", "p99")},
            ),
            line_chart(
                "Invoices accepted and final over time (cumulative)",
                [
                    ("accepted (submitted_at)", [tuple(p) for p in course.get("submitted", [])]),
                    ("final (updated_at)", [tuple(p) for p in course.get("final", [])]),
                ],
                y_label="invoices",
                load_end=summary.get("duration_s"),
            ),
            "<h3>Steps</h3>",
            _table(
                [
                    [step, f["count"], *(_v(f.get(f"{k}_ms")) for k in ("p50", "p99", "max")), f["basis"]]
                    for step, f in invoices["steps"].items()
                ],
                ["step (history entry)", "invoices", "p50 ms", "p99 ms", "max ms", "measured from"],
            ),
            "<h3>Retries</h3>",
            _retries(invoices["retries"]),
            "<h3>Bookings</h3>",
            _bookings(invoices["bookings"]),
        ]  # fmt: skip
        reasons = invoices.get("failure_reasons") or {}
        if reasons:
            parts += [
                "<h3>Failed invoices, by reason</h3>",
                _table([[r, n] for r, n in reasons.items()], ["reason", "invoices"]),
            ]
    else:
        parts.append(f"<p>Invoices not followed: {_esc(invoices.get('reason'))}.</p>")
    rows = [
        [method, ack.get("count", 0), *(_v(ack.get(f"{k}_ms")) for k in ("p50", "p90", "p99", "max"))]
        for method, ack in invoices["ack_by_payment"].items()
        if ack
    ]
    parts += [
        "<h3>202 latency by payment method</h3>",
        _table(rows, ["payment", "202s", "p50 ms", "p90 ms", "p99 ms", "max ms"])
        if rows
        else "<p>No 202 recorded.</p>",
    ]
    return "".join(parts)
