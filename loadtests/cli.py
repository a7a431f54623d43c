"""``hookstack load``: offer a scenario's traffic, wait for the backlog to drain, report, gate.

Registered by the main CLI (``stack/cli.py``) as ``app.command("load")(load)``. Never imports
Locust: the run happens in a child process (see ``loadtests.launcher``).
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from loadtests import cdc_trickle, invoice_batch, partner_jobs, stage_quiet
from loadtests.launcher import LocustInterrupted, LocustRun, LocustRunError, run_locust
from loadtests.locust.options import DEFAULT_MAX_BODY_BYTES
from loadtests.model import baseline as run_baseline
from loadtests.model.gates import METRICS, GateError, against_baseline, format_value, parse_gate, parse_gates
from loadtests.model.params import LoadParams, parse_duration
from loadtests.report import breakdown, breakdown_html, cold_starts, hops, interrupted
from loadtests.report import event_plane as event_plane_report
from loadtests.report import forecast as load_forecast
from loadtests.report import html as html_report
from loadtests.report import summary as run_summary
from loadtests.report.ci import conclude
from loadtests.report.e2e import BacklogSampler, DrainResult, wait_for_drain
from loadtests.scenario_run import print_run_table
from loadtests.warmup import warm_up
from stack.clients import providers as client_providers
from stack.clients.events import SCAN_FIELDS, scan_status_items
from stack.clients.token_placement import TokenPlacement
from stack.errors import HookstackError, UsageError
from stack.fidelity.divergences import fidelity_report

PROVIDERS = client_providers.PROVIDERS
DEFAULT_REPORT_ROOT = Path("load-reports")
# What a load run's figures rest on: the API path, the queue, the mappings, the runtime, the host.
LOAD_AREAS = {"sqs-fifo", "event-source-mapping", "authorizer", "api-limits", "lambda-runtime", "performance"}


class Scenario(enum.StrEnum):
    steady = "steady"
    flash_sale = "flash-sale"
    black_friday = "black-friday"
    retry_storm = "retry-storm"
    partner_jobs = "partner-jobs"
    invoice_batch = "invoice-batch"
    cdc_trickle = "cdc-trickle"


class Mode(enum.StrEnum):
    open = "open"
    closed = "closed"


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is this machine: 127.0.0.0/8, ::1, localhost, *.localhost."""
    host = (urlparse(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_remote: bool) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise HookstackError(f"not an http(s) URL: {url!r}")
    if parsed.query:
        # The URL is written to the report: a token must not ride along in it.
        raise HookstackError(
            "the API URL takes no query string: pass the token with --token (and "
            "--token-query-parameter when the stage reads it from the query string)"
        )
    if not is_loopback_url(url) and not allow_remote:
        raise HookstackError(
            f"{parsed.hostname} is not this machine: load only goes to loopback unless you pass "
            "--allow-remote for a stage you own"
        )


def check_cost(api_url: str | None, target: str | None, params: LoadParams, confirmed: bool) -> None:
    """Refuse a run that bills a real account (target aws, or any non-loopback URL) above the
    threshold of ``stack.ops.cost`` at the scenario's peak rate, unless --i-understand-cost."""
    from stack.ops.cost import require_cost_confirmation  # local: only the CLI needs prices

    billed = target == "aws" or (api_url is not None and not is_loopback_url(api_url))
    require_cost_confirmation("aws" if billed else (target or "url"), params.peak_rate(), params.duration, confirmed)


BASELINE_HANDLER_PREFIX = "handlers.baseline."
E2E_GATE_METRICS = frozenset(
    {
        "missing",
        "dead_lettered",
        "drain_seconds",
        *(f"e2e_{name}_ms" for name in ("p50", "p90", "p95", "p99", "p999", "max")),
    }
)


def runs_baseline_handlers(lambda_client: Any, producer_function: str) -> bool | None:
    """Whether the deployed producer is the baseline handler set's (whose worker keeps no
    status); None when the function's configuration cannot be read."""
    try:
        handler = lambda_client.get_function_configuration(FunctionName=producer_function)["Handler"]
    except Exception:  # noqa: BLE001 - boto3 raises many types; unknown is an answer here
        return None
    return str(handler).startswith(BASELINE_HANDLER_PREFIX)


def e2e_plan(has_stack: bool, requested: bool | None, baseline: bool | None) -> tuple[bool, str | None]:
    """(whether to read acknowledged events back from the events table, why not)."""
    if not has_stack:
        if requested:
            raise HookstackError("--e2e reads the stack's events table: pass --target (and --stage)")
        return False, "no stack outputs (--url without --target)"
    if baseline:
        if requested:
            raise HookstackError(
                "--e2e: this stage runs the baseline handler set, whose worker keeps no status "
                "to read back (use --no-e2e)"
            )
        return False, "baseline handler set: its worker keeps no status, so there is nothing to read back"
    if requested is False:
        return False, "end-to-end accounting turned off (--no-e2e)"
    return True, None


def check_gates_measurable(gates: list[Any], e2e: bool, reason: str | None) -> None:
    if e2e:
        return
    unmeasurable = [g.text for g in gates if g.metric.key in E2E_GATE_METRICS]
    if unmeasurable:
        raise HookstackError(
            f"gate(s) {', '.join(unmeasurable)} need end-to-end accounting, which this run does not do: {reason}"
        )


def _stack(target: str | None, stage: str | None, url: str | None) -> Any:
    if target is None and url is not None:
        return None  # a bare URL: no outputs, no end-to-end figures
    from stack.deploy.outputs import load_outputs  # local: only needed with a deployed stack

    return load_outputs(target or "embedded", stage)


def token_placement(outputs: Any, query_parameter: str | None) -> TokenPlacement:
    """Where the token goes: the deployed stage's configuration decides; a bare --url takes
    --token-query-parameter, else the default header."""
    if outputs is None:
        return TokenPlacement.in_query(query_parameter) if query_parameter else TokenPlacement.in_header()
    from stack.config import load_config

    placement = load_config(stage=outputs.stage).token_placement
    if query_parameter and placement != TokenPlacement.in_query(query_parameter):
        raise HookstackError(
            f"--token-query-parameter {query_parameter}: stage {outputs.stage!r} reads the token from "
            f"its {placement.describe()} (set identity_query_parameter in hookstack.toml)"
        )
    return placement


def parse_secrets(values: list[str] | None, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Signing secrets given on the command line (``--secret PROVIDER=VALUE``, repeatable) over the
    environment (``HOOKSTACK_<PROVIDER>_SECRET``, ``-`` → ``_``)."""
    secrets = {p: environ[env] for p in PROVIDERS if environ.get(env := client_providers.secret_env_var(p))}
    for value in values or []:
        name, sep, secret = value.partition("=")
        if not sep or not secret:
            raise HookstackError(f"--secret {value.partition('=')[0]!r}: give PROVIDER=VALUE")
        if name not in PROVIDERS:
            raise HookstackError(f"--secret: unknown provider {name!r}: choose from {', '.join(PROVIDERS)}")
        secrets[name] = secret
    return secrets


def _credentials(
    outputs: Any, providers: list[str], token: str | None, secrets: dict[str, str]
) -> tuple[str, dict[str, str]]:
    if outputs is not None:
        from stack.deploy.outputs import provider_secret, tenant_token

        token = token or tenant_token(outputs)
        secrets = {p: secrets.get(p) or provider_secret(outputs, p) for p in providers}
    missing = [] if token else ["--token (or HOOKSTACK_TOKEN)"]
    missing += [f"--secret {p}=… (or {client_providers.secret_env_var(p)})" for p in providers if not secrets.get(p)]
    if missing:
        raise HookstackError(f"without --target, pass {', '.join(missing)}")
    return token or "", {p: secrets[p] for p in providers}


def _queue_limit(outputs: Any) -> int:
    if outputs is None:
        return DEFAULT_MAX_BODY_BYTES
    try:
        attributes = outputs.client("sqs").get_queue_attributes(
            QueueUrl=outputs.queue_url, AttributeNames=["MaximumMessageSize"]
        )["Attributes"]
        return int(attributes["MaximumMessageSize"])
    except Exception:  # noqa: BLE001 - an emulator may not report it: fall back to SQS's classic limit
        return DEFAULT_MAX_BODY_BYTES


def _ms_or_dash(value: float | None) -> str:
    """A latency of the last window; none yet (nothing answered in it) reads as a dash, not ``Nonems``."""
    return "—" if value is None else f"{value}ms"


class ProgressView:
    """A live table on stderr: the load while it runs, then the drain."""

    def __init__(self, console: Console, params: LoadParams, sampler: BacklogSampler | None):
        self.console, self.params, self.sampler = console, params, sampler
        self.last: dict[str, Any] = {}
        self.previous: dict[str, Any] = {}
        self.drain: DrainResult | None = None
        self.phase = "starting Locust"

    def on_progress(self, line: dict[str, Any]) -> None:
        self.previous, self.last = self.last, line
        t = line.get("load_time", 0)
        self.phase = "spawning users" if t < 0 else ("load" if t < self.params.duration else "finishing in-flight")

    def on_drain(self, result: DrainResult) -> None:
        self.drain = result
        self.phase = "draining"

    def line(self) -> str:
        """A one-line form of the table, for logs."""
        parts = [self.phase]
        if self.last:
            line = self.last
            parts.append(
                f"t={max(0.0, line['load_time']):.0f}/{self.params.duration:.0f}s "
                f"offered={line['offered_rps']:.0f}/s sent={line['sent']} answered={line['completed']} "
                f"errors={line['errors']} p99(5s)={_ms_or_dash(line['p99_ms'])}"
            )
        if self.drain is not None:
            d = self.drain
            parts.append(f"processed={d.processed} dead-lettered={d.dead_lettered} pending={d.missing}")
        return " · ".join(parts)

    def __rich__(self) -> Group:
        table = Table(show_header=False, box=None, padding=(0, 2))
        line = self.last
        table.add_row("phase", f"[bold]{self.phase}[/]")
        if line:
            rate = None
            if self.previous and line["time"] > self.previous["time"]:
                rate = (line["completed"] - self.previous["completed"]) / (line["time"] - self.previous["time"])
            table.add_row("load time", f"{max(0.0, line['load_time']):.0f} / {self.params.duration:.0f} s")
            table.add_row("offered / achieved", f"{line['offered_rps']:.0f} / {rate or 0:.0f} req/s")
            table.add_row(
                "sent / answered",
                f"{line['sent']} / {line['completed']}  (in flight {line['in_flight']}, users {line['users']})",
            )
            table.add_row("acks / errors", f"{line['acks']} / {line['errors']}")
            table.add_row(
                "ack latency, last 5 s",
                " · ".join(f"{name} {_ms_or_dash(line[f'{name}_ms'])}" for name in ("p50", "p99", "max")),
            )
            cpu = " ".join(f"{node[:12]} {pct:.0f}%" for node, pct in line.get("cpu", {}).items())
            table.add_row("generator CPU", cpu or "—")
        if self.sampler is not None and (sample := self.sampler.latest()) is not None:
            table.add_row("queue / in flight / DLQ", f"{sample.visible} / {sample.in_flight} / {sample.dlq_visible}")
        if self.drain is not None:
            d = self.drain
            table.add_row(
                "accepted / processed / dead-lettered / pending",
                f"{d.accepted} / {d.processed} / {d.dead_lettered} / {d.missing}  ({d.waited_s:.0f} s)",
            )
        return Group(table)


class _PlainProgress:
    """Without a terminal (CI logs): one progress line every few seconds instead of a live table."""

    EVERY_S = 5.0

    def __init__(self, view: ProgressView, console: Console):
        self.view, self.console, self._last = view, console, 0.0
        self._on_progress, self._on_drain = view.on_progress, view.on_drain
        view.on_progress = self._wrap(self._on_progress)  # type: ignore[method-assign]
        view.on_drain = self._wrap(self._on_drain)  # type: ignore[method-assign]

    def _wrap(self, handler: Any) -> Any:
        def wrapped(value: Any) -> None:
            handler(value)
            if time.monotonic() - self._last >= self.EVERY_S:
                self._last = time.monotonic()
                self.console.print(self.view.line())

        return wrapped

    def __enter__(self) -> _PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _live(view: ProgressView, console: Console) -> Any:
    if console.is_terminal:
        return Live(view, console=console, refresh_per_second=2, transient=False)
    return _PlainProgress(view, console)


def _error_rate(summary: dict[str, Any]) -> str:
    """As a percentage, the unit the gate lines use (``errors<0.1%``)."""
    rate = summary.get("error_rate")
    if rate is None:
        return "— (nothing sent)"
    return f"{format_value(METRICS['errors'], rate)} ({summary.get('errors', 0)} of {summary.get('requests', 0)})"


def _print_summary(console: Console, summary: dict[str, Any], paths: tuple[Path, Path]) -> None:
    table = Table(title=f"hookstack load · {summary['scenario']} · {summary['target']}", show_header=False)
    rows = [
        ("offered / achieved", f"{summary['offered_rps']} / {summary['achieved_rps']} req/s"),
        ("requests", f"{summary['requests']} ({summary['status_counts']})"),
        (
            "ack latency p50/p90/p99/p99.9/max",
            " / ".join(str(summary[f"{k}_ms"]) for k in ("p50", "p90", "p99", "p999", "max")) + " ms",
        ),
        ("error rate", _error_rate(summary)),
    ]
    e2e = summary.get("e2e") or {}
    if e2e.get("available"):
        rows += [
            (
                "accepted / processed / dead-lettered / missing",
                f"{summary['accepted']} / {summary['processed']} / {summary['dead_lettered']} / {summary['missing']}",
            ),
            ("e2e p50 / p99 (ack → processed)", f"{summary['e2e_p50_ms']} / {summary['e2e_p99_ms']} ms"),
            ("drain after load", f"{summary['drain_seconds']} s"),
            (
                "worker events/s during load / drain rate",
                f"{summary.get('worker_events_per_s_during_load')} / {summary.get('drain_events_per_s')} /s",
            ),
        ]
    plane = summary.get("event_plane") or {}
    if plane.get("available"):
        rows.append(
            (
                "worker batches / groups in flight (peak)",
                f"{plane['peak_in_flight_batches']} / {plane['peak_in_flight_groups']} "
                f"(concurrency limit {plane['concurrency_limit']})",
            )
        )
    else:
        rows += [
            ("accepted", str(summary["accepted"])),
            ("end to end", f"not measured: {e2e.get('reason', 'not measured')}"),
        ]
    worker = (summary.get("per_hop") or {}).get("worker") or {}
    if worker.get("available"):
        stats = worker["handler"]
        rows.append(
            (
                f"worker per event ({worker['source']})",
                f"p50 {stats['p50_ms']} / p99 {stats['p99_ms']} / mean {stats['mean_ms']} ms",
            )
        )
    rows.append(("load generator limited this run", html_report.generator_limits(summary) or "no"))
    for name, value in rows:
        table.add_row(name, value)
    print_run_table(console, table, summary, paths)


def load(
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="embedded, localstack or aws: URL, secrets and queues come from its outputs "
            "(default embedded, unless --url)",
        ),
    ] = None,
    stage: Annotated[str | None, typer.Option(help="Stage of the deployed stack")] = None,
    url: Annotated[
        str | None,
        typer.Option(envvar="HOOKSTACK_LOAD_URL", help="API base URL incl. the stage; alone, no end-to-end figures"),
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback URL (a real stage you own)")
    ] = False,
    scenario: Annotated[Scenario, typer.Option(help="Load shape")] = Scenario.steady,
    rate: Annotated[float, typer.Option(help="Base offered rate, requests/s")] = 20.0,
    duration: Annotated[str, typer.Option(help="Load duration: 30s, 2m, 1h")] = "30s",
    peak: Annotated[
        float | None,
        typer.Option(
            help="Peak multiplier (flash-sale 5, black-friday 4, retry-storm 3, partner-jobs 4, invoice-batch 10, "
            "cdc-trickle 4)"
        ),
    ] = None,
    retry_share: Annotated[float | None, typer.Option(help="Share of retries during a retry storm")] = None,
    mode: Annotated[
        Mode, typer.Option(help="open: schedule-driven arrivals; closed: users wait for answers")
    ] = Mode.open,
    users: Annotated[int | None, typer.Option(help="Open: pool size; closed: peak users")] = None,
    processes: Annotated[int, typer.Option(help="Locust worker processes on this machine (0: one process)")] = 0,
    seed: Annotated[int | None, typer.Option(help="Seed for delivery contents")] = None,
    groups: Annotated[
        int | None,
        typer.Option(
            "--groups",
            "--shops",
            help="Message groups to spread over: ordering keys per provider (Shopify shops, Stripe accounts, "
            "GitHub repositories; default: 10 sample ones)",
        ),
    ] = None,
    provider: Annotated[
        list[str] | None, typer.Option(help=f"Providers to send as (repeatable): {', '.join(PROVIDERS)}")
    ] = None,
    gate: Annotated[
        list[str] | None, typer.Option(help='Pass/fail gate, e.g. "p99<250ms", "errors<0.1%" (repeatable)')
    ] = None,
    report_dir: Annotated[Path | None, typer.Option(help="Where to write summary.json and report.html")] = None,
    baseline_run: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="An earlier run (its summary.json or report directory): print the deltas; relative gates "
            '("p99<+10%") are set against it',
        ),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write the gates as JUnit XML here (one testcase per gate)")
    ] = None,
    drain_timeout: Annotated[
        str,
        typer.Option(
            help="Longest wait for the backlog to drain (partner-jobs: for every job to be final; "
            "cdc-trickle: for every insert to reach the partner)"
        ),
    ] = "5m",
    trickle: Annotated[
        cdc_trickle.TrickleDrive | None,
        typer.Option(
            help="cdc-trickle: fire (fire the steady schedule's target back to back from here; default on "
            "emulator targets) or schedule (leave it to the deployed rules; the default on aws)"
        ),
    ] = None,
    consumers: Annotated[
        int,
        typer.Option(
            help="partner-jobs: consumer processes started for the run and stopped after it "
            "(`hookstack consumer`, the sample job handler, 2 jobs at once each)"
        ),
    ] = 2,
    wait_for_quiet: Annotated[
        bool,
        typer.Option(
            "--wait-for-quiet",
            help="Before the load, wait (at most --drain-timeout) until the stage's queues are empty and "
            "no chaos fault is active (default: warn and go on)",
        ),
    ] = False,
    e2e: Annotated[
        bool | None,
        typer.Option(
            "--e2e/--no-e2e",
            help="Read every acknowledged event back from the events table after the load "
            "(default: on with a stack, off for a baseline handler set or a bare --url)",
        ),
    ] = None,
    i_understand_cost: Annotated[
        bool,
        typer.Option(
            "--i-understand-cost",
            help="Run against a billed account (target aws, a non-loopback URL) above the cost threshold",
        ),
    ] = False,
    warmup: Annotated[
        int,
        typer.Option(
            help="Deliveries sent (10 at a time) before the load, reported apart: cold starts are not the scenario"
        ),
    ] = 20,
    tail: Annotated[float, typer.Option(help="Seconds allowed for in-flight requests after the load")] = 10.0,
    max_body_bytes: Annotated[
        int | None, typer.Option(help="Largest body sent (default: the queue's MaximumMessageSize)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="HOOKSTACK_TOKEN", help="Tenant token (default: from the stack)")
    ] = None,
    token_query_parameter: Annotated[
        str | None,
        typer.Option(
            envvar="HOOKSTACK_TOKEN_QUERY_PARAMETER",
            help="With a bare --url: send the token in this query-string "
            "parameter instead of the header (a stage with "
            "identity_query_parameter)",
        ),
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(
            "--secret",
            metavar="PROVIDER=VALUE",
            help="A provider's signing secret (repeatable; default: from the stack, else "
            "HOOKSTACK_<PROVIDER>_SECRET, - as _)",
        ),
    ] = None,
) -> None:
    """Send a scenario's webhook traffic, report exact latencies and the drain, check gates."""
    console = Console(stderr=True)
    providers = provider or ["shopify"]
    unknown = sorted(set(providers) - set(PROVIDERS))
    if unknown:
        raise HookstackError(f"unknown provider(s) {', '.join(unknown)}: choose from {', '.join(PROVIDERS)}")
    given_secrets = parse_secrets(secret)
    try:
        gates = parse_gates(gate or [])
        params = LoadParams(
            scenario=scenario.value,
            rate=rate,
            duration=parse_duration(duration),
            mode=mode.value,
            users=users,
            peak=peak,
            retry_share=retry_share,
            seed=seed,
            tail=tail,
            groups=groups,
        )
        drain_limit = parse_duration(drain_timeout)
    except GateError:
        raise
    except ValueError as exc:  # a duration or a shape parameter that cannot be used
        raise UsageError(str(exc)) from None
    if processes < 0:
        raise HookstackError("--processes must be 0 (one process) or more")
    baseline_summary = run_baseline.read_summary(baseline_run) if baseline_run is not None else None
    gates = against_baseline(gates, baseline_summary)

    outputs = _stack(target, stage, url)
    # The trickle writes to the stage's table, not through an API: a stage without one runs it too.
    through_api = url is not None or params.scenario != Scenario.cdc_trickle or outputs.has_api
    api_url = (url or outputs.api_url) if through_api else None
    if api_url is not None:
        check_url(api_url, allow_remote)
    check_cost(api_url, outputs.target if outputs is not None else None, params, i_understand_cost)
    partner_jobs.check_gates(gates, params.scenario)
    if params.scenario == Scenario.cdc_trickle:  # table writes, the trickle, the partner's records: its own run
        prepared = cdc_trickle.CdcLoadStage(outputs, trickle, processes)  # before any load
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        cdc_trickle.run(
            prepared=prepared,
            params=params,
            report_dir=report_dir or DEFAULT_REPORT_ROOT / f"{stamp}-{params.scenario}",
            drain_timeout_s=drain_limit,
            wait_for_quiet=wait_for_quiet,
            gates=cdc_trickle.with_default_gates(gates),
            baseline_run=baseline_run,
            baseline_summary=baseline_summary,
            junit=junit,
        )
        return
    api_url = url or outputs.api_url  # every other scenario sends through the API
    if params.scenario in (Scenario.invoice_batch, Scenario.partner_jobs):  # followed through GET …/{id}
        from stack.deploy.outputs import tenant_token

        invoices = params.scenario == Scenario.invoice_batch
        # The stage's pattern first: refused in one line before any load.
        resources = (invoice_batch.InvoiceResources if invoices else partner_jobs.JobsResources).from_outputs(outputs)
        placement = token_placement(outputs, token_query_parameter)
        token_value = token or tenant_token(outputs)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        locust_run = LocustRun(
            url=api_url,
            params=params,
            report_dir=report_dir or DEFAULT_REPORT_ROOT / f"{stamp}-{params.scenario}",
            processes=processes,
            token=token_value,
            token_placement=placement,
        )
        followed = {
            "outputs": outputs,
            "locust": locust_run,
            "token": token_value,
            "placement": placement,
            "follow_timeout_s": drain_limit,
            "gates": partner_jobs.with_default_gates(gates),
            "warmup": warmup,
            "baseline_run": baseline_run,
            "baseline_summary": baseline_summary,
            "junit": junit,
        }
        if isinstance(resources, invoice_batch.InvoiceResources):
            invoice_batch.run(resources=resources, **followed)
        else:
            partner_jobs.run(resources=resources, consumers=consumers, **followed)
        return
    baseline = (
        runs_baseline_handlers(outputs.client("lambda"), outputs.function_names["producer"])
        if outputs is not None and e2e is not False
        else None
    )
    reads_back, e2e_note = e2e_plan(outputs is not None, e2e, baseline)
    check_gates_measurable(gates, reads_back, e2e_note)
    placement = token_placement(outputs, token_query_parameter)
    token_value, secrets = _credentials(outputs, providers, token, given_secrets)
    if reads_back and not any(g.metric.key == "missing" for g in gates):
        gates.append(parse_gate("missing==0"))  # an acknowledged event must never be lost
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = report_dir or DEFAULT_REPORT_ROOT / f"{stamp}-{params.scenario}"
    run = LocustRun(
        url=api_url,
        params=params,
        report_dir=directory,
        providers=providers,
        processes=processes,
        token=token_value,
        token_placement=placement,
        secrets=secrets,
        max_body_bytes=max_body_bytes or _queue_limit(outputs),
    )

    stage_notes = _check_quiet(console, outputs, wait_for_quiet, drain_limit) if outputs is not None else []
    sampler = None
    if outputs is not None:
        sampler = BacklogSampler(
            outputs.client("sqs"), outputs.queue_url, outputs.dlq_url, max_seconds=run.time_budget() + drain_limit + 60
        ).start()
    view = ProgressView(console, params, sampler)
    drain: DrainResult | None = None
    warmed: dict[str, Any] = {"requests": 0}
    if warmup > 0:
        with console.status(f"warming up: {warmup} deliveries"):
            warmed = warm_up(
                api_url,
                token=token_value,
                placement=placement,
                provider=providers[0],
                secret=secrets[providers[0]],
                requests=warmup,
                seed=seed,
            )
        console.print(f"warm-up: {warmed['status_counts']}, p50 {warmed['p50_ms']} ms, max {warmed['max_ms']} ms")
    log_files = hops.log_files(outputs.log_dir, outputs.function_names) if outputs is not None else {}
    log_offsets = hops.offsets(log_files)  # after the warm-up: per-hop figures describe the load only
    stats_before, stats_reason = _data_plane_stats(outputs)  # after the warm-up: its cold starts are not the load's
    stats_after: dict[str, Any] | None = None
    stopped_during: str | None = None  # "load" or "drain" when Ctrl-C stopped the run
    status_items: dict[str, dict[str, Any]] = {}  # the last read of each acknowledged event's status
    try:
        with _live(view, console):
            try:
                result = run_locust(run, on_progress=view.on_progress)
            except LocustRunError as exc:
                raise HookstackError(str(exc)) from None
            except LocustInterrupted as exc:
                if exc.result is None:  # stopped before Locust measured anything
                    raise KeyboardInterrupt from None
                result, stopped_during = interrupted.measured_part(exc.result), "load"
            stats_after, stats_reason = _data_plane_stats(outputs)
            if reads_back and stopped_during is None:
                dynamodb = outputs.client("dynamodb")
                try:
                    drain = wait_for_drain(
                        lambda: _keeping(
                            scan_status_items(
                                dynamodb, outputs.events_table, fields=(*SCAN_FIELDS, "provider", "topic")
                            ),
                            status_items,
                        ),
                        set(result["acked_ids"]),
                        timeout=drain_limit,
                        on_poll=view.on_drain,
                    )
                except KeyboardInterrupt:
                    drain, stopped_during = view.drain, "drain"
    finally:
        if sampler is not None:
            sampler.stop()
    if stopped_during == "load" and reads_back:
        e2e_note = "interrupted (Ctrl-C) before the drain"

    per_hop = hops.read_hops(
        log_files, log_offsets, worker_ms=drain.worker_ms if drain is not None else None, worker_reason=e2e_note
    )
    summary, results = run_summary.build(
        result,
        target=outputs.target if outputs is not None else "url",
        drain=drain,
        drain_note=e2e_note,
        per_hop=per_hop,
        gates=gates,
    )
    summary["warmup"] = warmed
    summary["event_plane"] = _event_plane_figures(outputs, result)
    summary["fidelity"] = fidelity_report(
        summary["target"], LOAD_AREAS, outputs.functions_python if outputs is not None else None
    )
    summary["forecast"] = load_forecast.for_run(
        summary,
        result,
        providers=providers,
        groups=groups,
        scan=(lambda: scan_status_items(dynamodb, outputs.events_table, fields=load_forecast.KEY_FIELDS))
        if reads_back and stopped_during is None
        else None,
    )
    timings = breakdown.timings_from_items(status_items, result["acked_ids"]) if drain is not None else None
    summary.update(breakdown.summary_fields(result, timings))
    summary["cold_starts"] = cold_starts.during(
        stats_before, stats_after, outputs.function_names if outputs is not None else {}, reason=stats_reason
    )
    summary["stage_notes"] = stage_notes
    summary["interrupted"] = stopped_during is not None
    if stopped_during is not None:
        summary.update(interrupted.fields(result, stopped_during))
    deltas = run_baseline.deltas(summary, baseline_summary) if baseline_summary is not None else []
    if baseline_run is not None and baseline_summary is not None:
        summary["baseline"] = {
            "summary": str(run_baseline.summary_path(baseline_run)),
            "started_at": baseline_summary.get("started_at"),
            "deltas": [delta.as_dict() for delta in deltas],
        }
    plot = run_summary.series(result, sampler.samples if sampler is not None else None)
    plot["errors_timeline"] = breakdown.errors_timeline(result)
    plot.update(breakdown.e2e_series(timings, result["origin_epoch"]))
    summary_path, html_path = directory / "summary.json", directory / "report.html"
    summary_path.write_text(json.dumps(summary, indent=2))
    html_path.write_text(breakdown_html.report_page(summary, plot), encoding="utf-8")
    _print_summary(Console(), summary, (summary_path, html_path))
    if (cold := cold_starts.note(summary["cold_starts"])) is not None:
        console.print(f"[yellow]{cold}[/]", soft_wrap=True)
    if stopped_during is not None:
        console.print(
            f"[yellow]interrupted during the {stopped_during}: {summary['measured_s']} s of "
            f'{summary["planned_duration_s"]} s measured; partial reports written ("interrupted": true)[/]',
            soft_wrap=True,
        )
        raise typer.Exit(130)
    conclude(
        results,
        scenario=params.scenario,
        junit=junit,
        deltas=deltas,
        baseline_label=str(run_baseline.summary_path(baseline_run)) if baseline_run is not None else None,
    )


def _keeping(items: Any, kept: dict[str, dict[str, Any]]) -> Any:
    """Pass ``items`` on, keeping the last one read per id (their statuses only move forward)."""
    for item in items:
        kept[str(item.get("id"))] = item
        yield item


def _data_plane_stats(outputs: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The data plane's ``/_hookstack/stats`` now, or None and why not."""
    if outputs is None or outputs.gateway != "hookstack":
        return None, "no hookstack data plane serves this stage: not supported on this target"
    from stack.embedded.gateway.process import read_stats

    try:
        return read_stats(outputs.api_url), None
    except (OSError, ValueError) as exc:
        return None, f"the data plane's stats could not be read: {exc}"


def _check_quiet(console: Console, outputs: Any, wait: bool, limit_s: float) -> list[str]:
    """Warn about a backlog or an active fault before the load (or wait for them to go); the
    warnings that still hold, for the report."""
    state = stage_quiet.read_stage_state(outputs)
    if state.quiet and state.fault_error is None:
        return []
    if wait and not state.quiet:
        with console.status("waiting for the stage to settle") as status:
            state = stage_quiet.wait_for_quiet(
                lambda: stage_quiet.read_stage_state(outputs),
                timeout_s=limit_s,
                on_poll=lambda s: status.update(f"waiting for the stage to settle: {'; '.join(s.warnings())}"),
            )
    notes = state.warnings()
    for note in notes:
        console.print(f"[yellow]warning: {note}[/]")
    if notes and not wait and not state.quiet:
        console.print("[yellow]pass --wait-for-quiet to wait for the stage to settle first[/]")
    return notes


def _event_plane_figures(outputs: Any, result: dict[str, Any]) -> dict[str, Any]:
    """The worker mapping's concurrency and throughput during the run, from the data plane's stats."""
    if outputs is None or outputs.gateway != "hookstack":
        return {"available": False, "reason": "no hookstack data plane serves this stage"}
    from stack.embedded.gateway.process import read_stats

    try:
        stats = read_stats(outputs.api_url)
    except (OSError, ValueError) as exc:
        return {"available": False, "reason": f"the data plane's stats could not be read: {exc}"}
    return event_plane_report.figures(
        stats, outputs.function_names["worker"], result["origin_epoch"], result["duration_s"], time.time()
    )


def main() -> None:
    """Standalone use (``python -m loadtests.cli``); ``hookstack load`` is the usual entry point."""
    app = typer.Typer(add_completion=False)
    app.command()(load)
    try:
        app()
    except HookstackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
