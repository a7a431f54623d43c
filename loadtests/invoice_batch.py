"""``hookstack load --scenario invoice-batch``: a month-end burst of invoices instead of webhooks.

On a stage with the orchestration pattern and a ``partner_url``: submit invoices on the
scenario's shape through Locust (``AccountingSystem``: card and transfer invoices), follow every
accepted one through ``GET /invoices/{id}`` to SUCCEEDED or FAILED, read the executions'
retries and (with the partner simulator) each invoice's bookings, and write the usual reports
with the invoices' figures (``loadtests.report.invoices``). Called by ``loadtests.cli.load``
once the stage, the URL and the cost are checked.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loadtests.invoice_follow import (
    InvoiceReader,
    InvoiceResources,
    StageWork,
    partner_simulator,
    read_bookings,
    read_retries,
    stage_work,
)
from loadtests.jobs_follow import follow_until_final
from loadtests.launcher import LocustInterrupted, LocustRun, LocustRunError, run_locust
from loadtests.model.gates import Gate, GateResult
from loadtests.model.invoice_traffic import REQUEST_PREFIX, InvoiceTraffic
from loadtests.partner_jobs import warm_up_posts
from loadtests.report import breakdown, interrupted, invoices_html
from loadtests.report import invoices as invoices_report
from loadtests.report import summary as run_summary
from loadtests.report.e2e import BacklogSampler
from loadtests.report.invoices import FollowedInvoice, InvoiceFollowUp
from loadtests.scenario_run import Progress, finish_run, judge, print_run_table, request_summary, submissions_rows
from stack.clients.token_placement import TokenPlacement
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError

SCENARIO = "invoice-batch"
USER_CLASS = "AccountingSystem"  # loadtests/locust/locustfile.py
E2E_NOTE = "invoice-batch: invoices are followed through GET /invoices/{id} (see `invoices` and invoices_*)"
WARMUP_NOTE = "invoices before the load (half card, half transfer); their executions run, they are not counted"


def warm_up_invoices(api_url: str, token: str, placement: TokenPlacement, count: int) -> dict[str, Any]:
    traffic = InvoiceTraffic(random.Random())
    bodies = [traffic.invoice("card" if n % 2 else "transfer").body for n in range(count)]
    return warm_up_posts(api_url, token, placement, "/invoices", bodies, WARMUP_NOTE)


def _follow_line(invoices: dict[str, FollowedInvoice], work: StageWork | None) -> str:
    final = [i for i in invoices.values() if i.final]
    failed = sum(1 for i in final if i.status == "FAILED")
    line = f"following invoices: {len(final)} / {len(invoices)} final ({failed} failed)"
    if work is not None:
        line += f" · queued {work.queued} · running executions {work.running} · starter DLQ {work.dlq}"
    return line


def build_summary(
    result: dict[str, Any], follow: InvoiceFollowUp | None, *, target: str, gates: list[Gate], note: str | None
) -> tuple[dict[str, Any], list[GateResult]]:
    """The webhook summary's request figures (202 latency, errors, rates), the per-payment
    breakdown and the invoices' figures; gates evaluated on all of it."""
    summary = request_summary(result, target=target, e2e_note=E2E_NOTE)
    summary.update(
        invoices_report.figures(
            follow,
            accepted_ids=result.get("acked_ids", []),
            submitted=summary["requests"] + summary["unsent"],
            status_counts=result["status_counts"],
            by_key=summary["by_key"],
            request_prefix=REQUEST_PREFIX,
            reason=note,
        )
    )
    return summary, judge(gates, summary)


def _print_invoices(console: Console, summary: dict[str, Any], paths: tuple[Path, Path]) -> None:
    block = summary["invoices"]
    table = Table(title=f"hookstack load · {SCENARIO} · {summary['target']}", show_header=False)
    rows = submissions_rows(summary, block)
    if block.get("followed"):
        final = block["final"]
        rows += [
            (
                "succeeded / failed / unfinished / lost",
                f"{block['succeeded']} / {block['failed']} / {block['unfinished']} / {block['lost']}",
            ),
            ("compensated", str(block["compensated"])),
            (
                "first submission → all complete",
                f"{summary['all_complete_s']} s"
                if summary["all_complete_s"] is not None
                else f"not all final ({block['accepted'] - block['succeeded'] - block['failed']} not final)",
            ),
            (
                "executions per second (completion window)",
                f"{summary['executions_per_s']} /s over {block['completion_window_s']} s",
            ),
            ("submit → final p50/p99/max", f"{final['p50_ms']} / {final['p99_ms']} / {final['max_ms']} ms"),
        ]
        for step, figures in block["steps"].items():
            if figures["count"]:
                rows.append((f"  step {step} p50/p99", f"{figures['p50_ms']} / {figures['p99_ms']} ms"))
        retries = block["retries"]
        rows.append(
            (
                "retries (execution histories)",
                f"{summary['retries']} {json.dumps(retries['by_error'])}"
                if retries.get("measured")
                else f"not measured: {retries.get('reason')}",
            )
        )
        bookings = block["bookings"]
        rows.append(
            (
                "booked once / more than once",
                f"{bookings['booked_once']} / {bookings['double_booked']}"
                if bookings.get("measured")
                else f"not measured: {bookings.get('reason')}",
            )
        )
        for reason, count in block["failure_reasons"].items():
            rows.append(("  failed", f"{count} × {reason}"))
    else:
        rows.append(("invoices followed", f"no: {block.get('reason')}"))
    for name, value in rows:
        table.add_row(name, value)
    print_run_table(console, table, summary, paths)


def run(
    *,
    outputs: StackOutputs,
    resources: InvoiceResources,
    locust: LocustRun,
    token: str,
    placement: TokenPlacement,
    follow_timeout_s: float,
    gates: list[Gate],
    warmup: int,
    baseline_run: Path | None,
    baseline_summary: dict[str, Any] | None,
    junit: Path | None,
) -> None:
    """The whole run; exits 1 on a failed gate, 130 when interrupted (partial reports written)."""
    console = Console(stderr=True)
    locust.user_class = USER_CLASS
    progress = Progress(console, locust.params.duration)
    sqs, stepfunctions = outputs.client("sqs"), outputs.client("stepfunctions")
    partner, partner_note = partner_simulator(resources.partner_url)
    if partner_note:
        console.print(f"[yellow]{partner_note}[/]")
    before = stage_work(sqs, stepfunctions, resources)
    stage_notes = (
        [
            f"work left from before the load: {before.queued} queued, {before.running} running executions, "
            f"{before.dlq} in the starter's DLQ"
        ]
        if before.total
        else []
    )
    for stage_note in stage_notes:
        console.print(f"[yellow]warning: {stage_note}[/]")
    follow: InvoiceFollowUp | None = None
    note: str | None = None
    stopped_during: str | None = None
    warmed: dict[str, Any] = {"requests": 0}
    sampler = BacklogSampler(
        sqs, resources.queue_url, resources.queue_dlq_url, max_seconds=locust.time_budget() + follow_timeout_s + 60
    )
    sampler.start()
    try:
        if warmup > 0:
            with console.status(f"warming up: {warmup} invoices"):
                warmed = warm_up_invoices(outputs.api_url, token, placement, warmup)
            console.print(f"warm-up: {warmed['status_counts']}, max {warmed['max_ms']} ms")
        try:
            result = run_locust(locust, on_progress=progress.on_load)
        except LocustRunError as exc:
            raise HookstackError(str(exc)) from None
        except LocustInterrupted as exc:
            if exc.result is None:
                raise KeyboardInterrupt from None
            result, stopped_during = interrupted.measured_part(exc.result), "load"
            note = "interrupted (Ctrl-C) during the load: invoices not followed"
        if stopped_during is None:
            reader = InvoiceReader(outputs.api_url, token, placement)
            follow, stopped_during = _follow(
                result["acked_ids"], reader, outputs, resources, follow_timeout_s, progress
            )
            if stopped_during is None:
                follow, stopped_during = _read_after(follow, stepfunctions, resources, partner, partner_note, console)
    finally:
        sampler.stop()
    summary, results = build_summary(result, follow, target=outputs.target, gates=gates, note=note)
    summary["warmup"] = warmed
    summary["stage_notes"] = stage_notes
    plot = run_summary.series(result, sampler.samples)
    plot["errors_timeline"] = breakdown.errors_timeline(result)
    plot["invoices_final_bins"] = invoices_report.final_bins(follow)
    plot["invoices_timeline"] = invoices_report.timeline(follow, result["origin_epoch"])
    finish_run(
        summary,
        results,
        plot,
        result=result,
        stopped_during=stopped_during,
        report_dir=locust.report_dir,
        section=invoices_html.section,
        print_table=_print_invoices,
        scenario=SCENARIO,
        junit=junit,
        baseline_run=baseline_run,
        baseline_summary=baseline_summary,
    )


def _follow(
    invoice_ids: list[str],
    reader: InvoiceReader,
    outputs: StackOutputs,
    resources: InvoiceResources,
    timeout_s: float,
    progress: Progress,
) -> tuple[InvoiceFollowUp, str | None]:
    """Every accepted invoice until final; on Ctrl-C what was read so far, and "drain"."""
    sqs, stepfunctions = outputs.client("sqs"), outputs.client("stepfunctions")
    seen: dict[str, FollowedInvoice] = {}
    last: list[StageWork] = []

    def work_left() -> int:
        last[:] = [stage_work(sqs, stepfunctions, resources)]
        return last[0].total

    def on_pass(invoices: dict[str, FollowedInvoice]) -> None:
        seen.update(invoices)
        progress.line(lambda: _follow_line(invoices, last[0] if last else None))

    try:
        done = follow_until_final(
            invoice_ids,
            reader.read,
            unread=FollowedInvoice,
            work_left=work_left,
            timeout_s=timeout_s,
            on_pass=on_pass,
        )
    except KeyboardInterrupt:
        partial = {i: seen.get(i) or FollowedInvoice(i) for i in invoice_ids}
        return InvoiceFollowUp(partial, last[0].total if last else 0, 0.0, True, 0), "drain"
    finally:
        reader.close()
    return InvoiceFollowUp(done.items, done.left, done.waited_s, done.timed_out, done.passes), None


def _read_after(
    follow: InvoiceFollowUp,
    stepfunctions: Any,
    resources: InvoiceResources,
    partner: Any,
    partner_note: str | None,
    console: Console,
) -> tuple[InvoiceFollowUp, str | None]:
    """The executions' retries and the bookings, beside the follow-up (Ctrl-C: without them)."""
    invoices = list(follow.invoices.values())
    try:
        with console.status("reading the executions' histories"):
            retries = read_retries(stepfunctions, invoices, resources.task_states)
        bookings = read_bookings(partner, partner_note, invoices)
    except KeyboardInterrupt:
        return follow, "drain"
    return InvoiceFollowUp(
        follow.invoices, follow.work_left, follow.waited_s, follow.timed_out, follow.passes, retries, bookings
    ), None
