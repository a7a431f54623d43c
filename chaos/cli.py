"""`hookstack chaos`: list and run drills, inject faults by hand, show them, switch them all off.

Registered by the main CLI as ``app.add_typer(chaos_app, name="chaos")``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from stack.ci import CheckCase, failure_annotations, under_github_actions, write_junit
from stack.errors import HookstackError, UsageError

if TYPE_CHECKING:
    from chaos.runner import DrillResult
    from stack.config import HookstackConfig
    from stack.deploy.outputs import StackOutputs

app = typer.Typer(
    help="Chaos drills: run-time fault injection, drills with reconciliation, game-day switches.", no_args_is_help=True
)
console = Console(stderr=True)
out = Console()

TargetOpt = Annotated[str, typer.Option("--target", "-t", help="embedded | localstack | aws")]
StageOpt = Annotated[str | None, typer.Option("--stage", help="stage name (default from config)")]


def _outputs(target: str, stage: str | None):
    from stack.deploy.outputs import load_outputs

    return load_outputs(target, stage)


def _switch(outputs):
    from chaos.switch import FaultSwitch
    from stack.config import load_config

    return FaultSwitch(outputs.client("ssm"), load_config(stage=outputs.stage).faults_parameter)


# Short headers, so that the table fits 80 columns (CI logs) without cutting a name or a verdict.
# A column shows the first of its counts a drill has (the CDC drill inserts and delivers items).
SUMMARY_COLUMNS = (
    ("sent", ("sent", "inserted")),
    ("ack", ("acked",)),
    ("proc", ("processed", "delivered")),
    ("dlq", ("dead_lettered",)),
    ("repl", ("replayed",)),
    ("dup", ("duplicates_applied",)),
    ("ord", ("order_violations",)),
    ("miss", ("missing",)),
)
SUMMARY_LEGEND = (
    "ack acknowledged (202) · proc processed · dlq dead-lettered · repl replayed · "
    "dup duplicates applied · ord order violations · miss missing"
)


def _summary_cell(counts: dict, keys: tuple[str, ...]) -> str:
    return next((str(counts[key]) for key in keys if key in counts), "-")


def drill_summary_table(results: list[DrillResult]) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False)
    table.add_column("drill", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    for header, _ in SUMMARY_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    for result in results:
        counts = result.counts
        table.add_row(
            result.drill,
            result.verdict,
            f"{result.duration_s:.1f}",
            *(_summary_cell(counts, keys) for _, keys in SUMMARY_COLUMNS),
        )
    return table


def drill_cases(results: list[DrillResult], refused: tuple[str, str] | None = None) -> list[CheckCase]:
    """One CI check per drill run (and one failed check for a drill that could not start)."""
    cases = [
        CheckCase(
            name=result.drill,
            passed=result.passed,
            message=f"{result.verdict} in {result.duration_s:.1f}s"
            + (f": {result.failures[0]}" if result.failures else ""),
            detail="\n".join(result.failures),
            seconds=result.duration_s,
        )
        for result in results
    ]
    if refused is not None:
        cases.append(CheckCase(name=refused[0], passed=False, message=f"not run: {refused[1]}"))
    return cases


def fault_lines(active: list[dict], now: float) -> list[str]:
    """One line per active fault, its id first and whole (what `inject --id` named)."""
    lines = []
    for fault in active:
        scope = ", ".join(
            f"{k}={v}" for k, v in fault.items() if k not in ("id", "function", "point", "action", "expires_at")
        )
        lines.append(
            f"{fault['id']}  {fault['function']}/{fault['point']}/{fault['action']}  "
            f"scope {scope or 'all'}  expires in {fault['expires_at'] - now:.0f}s"
        )
    return lines


def sabotages_for(drill: str) -> tuple[str, ...]:
    """The sabotages that break what ``drill`` drills (any other would prove nothing)."""
    from chaos.accounting_outage import NAME as ACCOUNTING_OUTAGE
    from chaos.accounting_outage import SABOTAGE as UNKEYED_BOOKING
    from chaos.callback_outage import NAME as CALLBACK_OUTAGE
    from chaos.callback_outage import SABOTAGE as CALLBACK_BROKEN_REPLAY
    from chaos.consumer_crash import NAME as CONSUMER_CRASH
    from chaos.consumer_crash import SABOTAGE as DELETE_FIRST_CONSUMER
    from chaos.context import WEBHOOKS_SABOTAGES
    from chaos.partner_throttling import NAME as PARTNER_THROTTLING
    from chaos.partner_throttling import SABOTAGE as DELETE_FIRST_TRICKLE

    own = {
        CONSUMER_CRASH: (DELETE_FIRST_CONSUMER,),
        ACCOUNTING_OUTAGE: (UNKEYED_BOOKING,),
        PARTNER_THROTTLING: (DELETE_FIRST_TRICKLE,),
        CALLBACK_OUTAGE: (CALLBACK_BROKEN_REPLAY,),
    }
    return own.get(drill, WEBHOOKS_SABOTAGES)


def refuse_misapplied_sabotage(names: list[str], sabotage: str | None) -> None:
    """A known sabotage that does not apply to a drill to run is a usage error (exit 2); an
    unknown one is left to DrillSettings, which names the known ones."""
    from chaos.context import SABOTAGES

    if sabotage not in SABOTAGES:
        return
    for name in names:
        if sabotage not in sabotages_for(name):
            raise UsageError(
                f"--sabotage {sabotage} does not apply to the {name} drill (it takes: {', '.join(sabotages_for(name))})"
            )


@app.command("list")
def list_drills() -> None:
    """The drills, with their expected duration on a drill-sized embedded stage."""
    from chaos.accounting_outage import NAME as ACCOUNTING_OUTAGE
    from chaos.accounting_outage import PHASE_S
    from chaos.accounting_outage import SUMMARY as ACCOUNTING_OUTAGE_SUMMARY
    from chaos.callback_outage import NAME as CALLBACK_OUTAGE
    from chaos.callback_outage import SUMMARY as CALLBACK_OUTAGE_SUMMARY
    from chaos.callback_outage import CallbackTimings
    from chaos.consumer_crash import NAME as CONSUMER_CRASH
    from chaos.consumer_crash import SUMMARY as CONSUMER_CRASH_SUMMARY
    from chaos.consumer_crash import JobsTimings
    from chaos.context import DrillSettings
    from chaos.drills import DRILLS
    from chaos.partner_throttling import NAME as PARTNER_THROTTLING
    from chaos.partner_throttling import SUMMARY as PARTNER_THROTTLING_SUMMARY
    from chaos.partner_throttling import estimate_s as partner_throttling_estimate_s
    from chaos.stage import (
        CALLBACK_DRILL_BACKOFF_S,
        CALLBACK_DRILL_MAX_ATTEMPTS,
        CDC_DRILL_TRICKLE_RATE_PER_S,
        DRILL_OVERRIDES,
        JOBS_DRILL_VISIBILITY_TIMEOUT_S,
        StageTimings,
    )

    timeout = float(DRILL_OVERRIDES["worker_timeout_seconds"])
    timings = StageTimings(
        worker_timeout_s=timeout, visibility_timeout_s=6 * timeout, max_receive_count=3, faults_cache_s=2
    )
    table = Table("drill", "what it does", "about")
    table.columns[0].no_wrap = True  # a name to type: never cut
    table.columns[2].no_wrap = True
    for drill in DRILLS.values():
        table.add_row(drill.name, drill.summary, f"{drill.estimate(timings):.0f}s")
    jobs_timings = JobsTimings(float(JOBS_DRILL_VISIBILITY_TIMEOUT_S), max_receive_count=3)
    table.add_row(f"{CONSUMER_CRASH} (jobs)", CONSUMER_CRASH_SUMMARY, f"{jobs_timings.estimate_s(24):.0f}s")
    table.add_row(f"{ACCOUNTING_OUTAGE} (orchestration)", ACCOUNTING_OUTAGE_SUMMARY, f"≤{2 * PHASE_S:.0f}s")
    cdc_estimate = partner_throttling_estimate_s(DrillSettings().events, CDC_DRILL_TRICKLE_RATE_PER_S)
    table.add_row(f"{PARTNER_THROTTLING} (cdc)", PARTNER_THROTTLING_SUMMARY, f"{cdc_estimate:.0f}s")
    callback_timings = CallbackTimings(CALLBACK_DRILL_BACKOFF_S, CALLBACK_DRILL_MAX_ATTEMPTS, secret_cache_s=0)
    table.add_row(
        f"{CALLBACK_OUTAGE} (notifications)",
        CALLBACK_OUTAGE_SUMMARY,
        f"{callback_timings.estimate_s(DrillSettings().events):.0f}s",
    )
    out.print(table)


@contextlib.contextmanager
def _stack(
    target: str,
    stage: str | None,
    fresh: bool | None,
    *,
    jobs: bool = False,
    orchestration: bool = False,
    unkeyed_booking: bool = False,
    cdc: bool = False,
    notifications: bool = False,
) -> Iterator[tuple[StackOutputs, HookstackConfig | None]]:
    """The stage to drill, and the config it was deployed with when this run deployed it: on
    ``fresh``, a private drill-sized one (``jobs``: with the jobs pattern; ``orchestration``: with
    the orchestration pattern, ``cdc``: with the cdc pattern, each with a partner simulator of its
    own; ``notifications``: with the jobs and notifications patterns, the drill bringing its own
    partner simulator)."""
    from chaos.stage import (
        CDC_DRILL_PARTNER_BURST,
        CDC_DRILL_PARTNER_RATE_PER_S,
        callback_drill_config,
        cdc_drill_config,
        drill_config,
        fresh_embedded_stack,
        jobs_drill_config,
        orchestration_drill_config,
    )

    fresh = (target == "embedded") if fresh is None else fresh
    if fresh and target != "embedded":
        raise HookstackError(
            f"--fresh is not supported on the {target} target: deploy a stage there and run the drills against it"
        )
    named = {"stage": stage} if stage else {}
    if fresh and (orchestration or cdc):
        from stack.partner.process import running_partner

        # The CDC drill's partner has a limit of its own outside the fault, which the drill checks too.
        rate, burst = (CDC_DRILL_PARTNER_RATE_PER_S, CDC_DRILL_PARTNER_BURST) if cdc else (None, 1)
        with running_partner(rate_limit_per_s=rate, burst=burst) as partner:
            _say(f"partner simulator on {partner.url}")
            if cdc:
                config = cdc_drill_config(partner.url, **named)
            else:
                config = orchestration_drill_config(partner.url, unkeyed_booking=unkeyed_booking, **named)
            with fresh_embedded_stack(config, progress=_say) as outputs:
                yield outputs, config
    elif fresh:
        config = (callback_drill_config if notifications else jobs_drill_config if jobs else drill_config)(**named)
        with fresh_embedded_stack(config, progress=_say) as outputs:
            yield outputs, config
    else:
        yield _outputs(target, stage), None


_started = time.monotonic()


def _say(message: str) -> None:
    console.print(f"[dim]{time.monotonic() - _started:6.1f}s[/dim] {message}", highlight=False)


@app.command()
def run(
    drill: Annotated[str, typer.Argument(help="a drill name (see `list`) or `all` (the webhooks drills)")],
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    events: Annotated[int, typer.Option(min=4, max=500, help="events per drill")] = 24,
    groups: Annotated[int, typer.Option(min=1, max=8, help="message groups")] = 4,
    report_dir: Annotated[Path, typer.Option(help="where the JSON and HTML reports go")] = Path("chaos-reports"),
    fresh: Annotated[
        bool | None,
        typer.Option(
            "--fresh/--deployed", help="embedded: a private drill-sized stack (default) or the deployed stage"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="traffic seed")] = 7,
    max_seconds: Annotated[float, typer.Option(help="time budget per drill")] = 240.0,
    sabotage: Annotated[
        str | None,
        typer.Option(
            help="break the stage on purpose (skip-write | broken-replay; consumer-crash, partner-throttling: "
            "delete-first; accounting-outage: unkeyed-booking; callback-outage: broken-replay): the drill must FAIL"
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="also write the verdicts as JUnit XML here (one testcase per drill)")
    ] = None,
) -> None:
    """Run a drill (or all): send, inject, wait, recover, reconcile, fix and replay, verdict."""
    from chaos.accounting_outage import NAME as ACCOUNTING_OUTAGE
    from chaos.accounting_outage import SABOTAGE as UNKEYED_BOOKING
    from chaos.accounting_outage import run_accounting_outage
    from chaos.callback_outage import NAME as CALLBACK_OUTAGE
    from chaos.callback_outage import run_callback_outage
    from chaos.consumer_crash import NAME as CONSUMER_CRASH
    from chaos.consumer_crash import run_consumer_crash
    from chaos.context import DrillSettings
    from chaos.drills import DRILLS
    from chaos.partner_throttling import NAME as PARTNER_THROTTLING
    from chaos.partner_throttling import run_partner_throttling_drill
    from chaos.report import write_reports
    from chaos.runner import run_drill

    names = list(DRILLS) if drill == "all" else [drill]
    pattern_drills = (CONSUMER_CRASH, ACCOUNTING_OUTAGE, PARTNER_THROTTLING, CALLBACK_OUTAGE)
    unknown = [n for n in names if n not in DRILLS and n not in pattern_drills]
    if unknown:
        raise HookstackError(
            f"unknown drill {unknown[0]!r}: choose one of {', '.join((*DRILLS, *pattern_drills))} or all"
        )
    refuse_misapplied_sabotage(names, sabotage)
    settings = DrillSettings(events=events, groups=groups, seed=seed, max_seconds=max_seconds, sabotage=sabotage)
    results = []
    refused: tuple[str, str] | None = None  # (drill, why it could not start)
    with _stack(
        target,
        stage,
        fresh,
        jobs=names == [CONSUMER_CRASH],
        orchestration=names == [ACCOUNTING_OUTAGE],
        unkeyed_booking=sabotage == UNKEYED_BOOKING,
        cdc=names == [PARTNER_THROTTLING],
        notifications=names == [CALLBACK_OUTAGE],
    ) as (outputs, deployed_config):
        for name in names:
            with console.status(f"drill {name}…"):
                _say(f"[bold]drill {name}[/bold] on {outputs.target}/{outputs.stage}")
                try:
                    if name == CONSUMER_CRASH:
                        result = run_consumer_crash(outputs, settings, progress=_say)
                    elif name == ACCOUNTING_OUTAGE:
                        result = run_accounting_outage(outputs, settings, progress=_say)
                    elif name == CALLBACK_OUTAGE:
                        result = run_callback_outage(outputs, settings, progress=_say)
                    elif name == PARTNER_THROTTLING:
                        result = run_partner_throttling_drill(outputs, settings, config=deployed_config, progress=_say)
                    else:
                        result = run_drill(name, outputs, settings, progress=_say)
                except HookstackError as error:  # could not start (budget, dirty stage): stop here
                    refused = (name, str(error))
                    break
            result.functions_python = outputs.functions_python  # every drill's report says what ran the functions
            json_path, html_path = write_reports(result, report_dir)
            style = "green" if result.passed else "red"
            _say(f"[{style}]{result.verdict}[/{style}] {name} in {result.duration_s:.1f}s — {html_path}")
            for failure in result.failures[:8]:
                console.print(f"  [red]•[/red] {failure}", highlight=False)
            results.append((result, json_path, html_path))
            if result.interrupted:
                break  # Ctrl-C: no further drill
    if results:  # a drill that could not start is one line (below), not an empty table
        out.print(drill_summary_table([result for result, _, _ in results]))
        console.print(SUMMARY_LEGEND, highlight=False)
    if refused:
        console.print(f"[red]not run:[/red] {refused[0]}: {refused[1]}", highlight=False, soft_wrap=True)
    cases = drill_cases([result for result, _, _ in results], refused)
    if junit is not None:
        write_junit(junit, f"hookstack chaos {drill}", cases, classname="hookstack.chaos")
    if under_github_actions():
        for annotation in failure_annotations(cases, "chaos drill"):
            print(annotation)  # a workflow command, read from stdout as is (no rich markup or wrapping)
    if any(result.interrupted for result, _, _ in results):
        console.print('[yellow]interrupted: the partial report is written ("interrupted": true)[/yellow]')
        raise typer.Exit(130)
    if refused or not all(result.passed for result, _, _ in results):
        raise typer.Exit(1)


@app.command()
def off(target: TargetOpt = "embedded", stage: StageOpt = None) -> None:
    """Remove every active fault (the whole fault parameter): the abort switch of a game day."""
    outputs = _outputs(target, stage)
    switch = _switch(outputs)
    removed = switch.off()
    console.print(
        f"removed {removed} active fault(s) from {switch.parameter}; the handlers drop them within FAULTS_CACHE_SECONDS"
    )


@app.command()
def status(
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The active faults of a stage."""
    outputs = _outputs(target, stage)
    described = _switch(outputs).describe()
    if as_json:
        out.print_json(json.dumps(described))
        return
    for line in fault_lines(described["active"], time.time()):
        out.print(line, soft_wrap=True, highlight=False, markup=False)
    console.print(
        f"{len(described['active'])} active fault(s) in {described['parameter']}"
        + (f"; applied log until {described['applied_log_until']}" if described["applied_log_until"] else "")
    )


@app.command()
def inject(
    fault_id: Annotated[str, typer.Option("--id", help="fault id")],
    function: Annotated[str, typer.Option(help="producer | worker")],
    point: Annotated[str, typer.Option(help="enqueue | write | after_write | partner")],
    action: Annotated[str, typer.Option(help="latency | error | throttle | timeout | crash")],
    duration: Annotated[float, typer.Option("--for", help="seconds until the fault expires")] = 300.0,
    percentage: Annotated[float, typer.Option(min=0, max=100)] = 100.0,
    group: Annotated[list[str] | None, typer.Option(help="message group pattern (repeatable)")] = None,
    provider: Annotated[list[str] | None, typer.Option(help="provider pattern (repeatable)")] = None,
    topic: Annotated[list[str] | None, typer.Option(help="topic pattern (repeatable)")] = None,
    latency_ms: Annotated[int, typer.Option(min=0)] = 0,
    after_writes: Annotated[int, typer.Option(min=1, max=10)] = 1,
    max_attempt: Annotated[int | None, typer.Option(min=1)] = None,
    error_code: Annotated[str | None, typer.Option(help="throttle: the DynamoDB error code")] = None,
    status_code: Annotated[int, typer.Option(min=500, max=599, help="partner error: HTTP status")] = 503,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
) -> None:
    """Switch one fault on by hand (game days), next to those already active."""
    from pydantic import ValidationError

    from chaos.switch import expiry
    from handlers.faults import Fault

    if action == "skip":
        raise HookstackError("the skip sabotage is for drills only (`chaos run --sabotage skip-write`)")
    try:
        fault = Fault(
            id=fault_id,
            function=function,
            point=point,
            action=action,
            expires_at=expiry(duration),
            percentage=percentage,
            groups=tuple(group or ()),
            providers=tuple(provider or ()),
            topics=tuple(topic or ()),
            latency_ms=latency_ms,
            after_writes=after_writes,
            max_attempt=max_attempt,
            error_code=error_code,
            status_code=status_code,
        )
    except ValidationError as error:
        raise HookstackError(f"invalid fault: {error.errors()[0]['msg']}") from None
    outputs = _outputs(target, stage)
    config = _switch(outputs).add(fault)
    console.print(
        f"fault {fault.id} on for {duration:g}s ({len(config.faults)} active); "
        "`hookstack chaos off` removes every fault"
    )
