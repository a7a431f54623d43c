"""The HTML report's section of a ``partner-jobs`` run: what became of the jobs, submit → final
latency (figures and distribution), the 202 latency per attachment size class."""

from __future__ import annotations

from typing import Any

from loadtests.report.html import _esc, _table, histogram_chart


def _ms(value: Any) -> str:
    return "—" if value is None else f"{value:g}"


def section(summary: dict[str, Any], plot: dict[str, Any]) -> str:
    jobs = summary.get("jobs")
    if not jobs:
        return ""
    refused = ", ".join(f"{status}: {n}" for status, n in jobs["refused_by_status"].items()) or "none"
    counts = [
        ["submitted", jobs["submitted"]],
        ["accepted (202)", jobs["accepted"]],
        ["refused, by status", refused],
        ["consumers", jobs["consumers"]],
    ]
    parts = ["<h2>Jobs</h2>"]
    if jobs.get("followed"):
        final = jobs["final"]
        counts += [
            ["succeeded", jobs["succeeded"]],
            ["failed", jobs["failed"]],
            ["unfinished (a message still queued)", jobs["unfinished"]],
            ["lost (no job item, or not final with nothing left to run it)", jobs["lost"]],
            ["jobs per second", f"{_ms(summary.get('jobs_per_s'))} ({_esc(jobs['jobs_per_s_basis'])})"],
            ["followed for", f"{jobs['waited_s']} s, {jobs['polls']} polls"
             + (" (timed out)" if jobs["follow_timed_out"] else "")],
        ]  # fmt: skip
        parts.append(_table(counts))
        observed = jobs["observed"]
        parts += [
            "<h3>Submit → final status</h3>",
            _table(
                [
                    [
                        f"job record ({_esc(jobs['final_basis'])})",
                        final["count"],
                        *(_ms(final.get(f"{k}_ms")) for k in ("p50", "p90", "p99", "max")),
                    ],
                    [
                        f"polled ({_esc(jobs['observed_basis'])})",
                        observed["count"],
                        *(_ms(observed.get(f"{k}_ms")) for k in ("p50", "p90", "p99", "max")),
                    ],
                ],  # fmt: skip
                ["basis", "jobs", "p50 ms", "p90 ms", "p99 ms", "max ms"],
            ),
            histogram_chart(
                "Submit → final status distribution (job record)",
                plot.get("final_bins", []),
                {name: summary.get(f"final_{name}_ms") for name in ("p50", "p99", "p999")},
            ),
        ]
    else:
        parts += [_table(counts), f"<p>Jobs not followed: {_esc(jobs.get('reason'))}.</p>"]
    size_rows = [
        [size_class, ack.get("count", 0), *(_ms(ack.get(f"{k}_ms")) for k in ("p50", "p90", "p99", "max"))]
        for size_class, ack in jobs["ack_by_size_class"].items()
        if ack
    ]
    parts += [
        "<h3>202 latency by attachment size class</h3>",
        "<p class='note'>inline-small and inline-large travel in the queue message; claim-check and "
        "over-queue-limit go to S3 (the stage's claim_check_bytes decides).</p>",
        _table(size_rows, ["size class", "202s", "p50 ms", "p90 ms", "p99 ms", "max ms"])
        if size_rows
        else "<p>No 202 was recorded per size class.</p>",
    ]
    return "".join(parts)
