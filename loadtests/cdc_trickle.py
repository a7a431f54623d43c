"""``hookstack load --scenario cdc-trickle``: table writes instead of webhooks, and the trickle's
delivery to a rate-limited partner measured at the partner.

On a stage with the cdc pattern whose ``partner_url`` is a partner simulator: Locust's
``OrderSource`` writes the source table on the scenario's shape (bursts of varying height:
inserts, and updates and deletes of earlier items); the trickle is driven (``--trickle fire``:
its steady schedule's target fired back to back from here, as ``hookstack schedule fire`` does;
``--trickle schedule``: left to the deployed rules); after the load the run goes on until every
insert was answered 2xx by the partner and the CDC queue is empty (``--drain-timeout``). The
figures come from the partner's own records (``loadtests.report.cdc``) and the write latency from
the harness. Called by ``loadtests.cli.load`` once the stage and the cost are checked.
"""

from __future__ import annotations

import enum
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from loadtests.launcher import LocustInterrupted, LocustRun, LocustRunError, run_locust
from loadtests.model.cdc_traffic import DELETE, INSERT, REQUEST_PREFIX, UPDATE, RunWrites
from loadtests.model.gates import Gate, parse_gate
from loadtests.model.params import LoadParams
from loadtests.report import breakdown, cdc_html, interrupted
from loadtests.report import cdc as cdc_report
from loadtests.report import summary as run_summary
from loadtests.report.e2e import BacklogSampler
from loadtests.scenario_run import Progress, finish_run, judge, print_run_table
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError, UsageError
from stack.ops.cdc_stage import CdcStage, queue_depth
from stack.partner.client import PartnerError

SCENARIO = "cdc-trickle"
USER_CLASS = "OrderSource"  # loadtests/locust/locustfile.py
E2E_NOTE = "cdc-trickle: inserts are followed to the partner's records (see `cdc` and lag_*), not the events table"
KINDS = (INSERT, UPDATE, DELETE)
DEFAULT_GATES = ("undelivered==0", "order_violations==0", "leaked==0")
POLL_S = 2.0
# The CDC queue empty this long while inserts are undelivered: they are lost, not on their way
# (the capture is seconds behind a write; a refused item stays on the queue until it is sent).
QUIET_S = 15.0
EMPTY_RUN_PAUSE_S = 1.0  # after a trickle run that delivered nothing, as a next tick would be
DRIVER_JOIN_S = 30.0


class TrickleDrive(enum.StrEnum):
    fire = "fire"  # fire the steady schedule's target back to back from here
    schedule = "schedule"  # leave it to the deployed rules


def default_drive(target: str) -> TrickleDrive:
    """Fire on emulator targets; on AWS the rules run it unless the user asks to fire."""
    return TrickleDrive.schedule if target == "aws" else TrickleDrive.fire


def with_default_gates(gates: list[Gate]) -> list[Gate]:
    """Nothing lost, order kept, no update or delete at the partner: always checked."""
    given = {g.metric.key for g in gates}
    return [*gates, *(gate for text in DEFAULT_GATES if (gate := parse_gate(text)).metric.key not in given)]


# --- driving the trickle --------------------------------------------------------------------------


class TrickleDriver:
    """Fires the deployed trickle run after run in a thread (``--trickle fire``): the outgoing
    rate is then bounded by the trickle's pace and the partner's limit only, not by the rule's
    minute. Bounded by ``max_s``; a failed run is counted and the next one follows a pause."""

    def __init__(self, fire_once: Callable[[], Mapping[str, Any]], *, max_s: float) -> None:
        self._fire, self._max_s = fire_once, max_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickle-driver", daemon=True)
        self.runs = 0
        self.delivered = 0
        self.refused = 0  # runs the partner stopped (429, 5xx, no answer)
        self.failures = 0
        self.last_error: str | None = None

    def _run(self) -> None:
        deadline = time.monotonic() + self._max_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                report = self._fire()
            except HookstackError as exc:
                self.failures += 1
                self.last_error = str(exc).splitlines()[0][:300]
                self._stop.wait(EMPTY_RUN_PAUSE_S)
                continue
            self.runs += 1
            delivered = int(report.get("delivered") or 0)
            self.delivered += delivered
            self.refused += report.get("stopped") == "refused"
            if not delivered:
                self._stop.wait(EMPTY_RUN_PAUSE_S)

    def start(self) -> TrickleDriver:
        self._thread.start()
        return self

    def stop(self, join_s: float = DRIVER_JOIN_S) -> None:
        """Fire no more; wait (at most ``join_s``) for a run in progress to end."""
        self._stop.set()
        self._thread.join(timeout=join_s)


# --- after the load -------------------------------------------------------------------------------


@dataclass
class DrainOutcome:
    delivered: int
    undelivered: int
    queued: int
    waited_s: float
    timed_out: bool
    quiet: bool  # stopped because the queue stayed empty with inserts undelivered


def wait_for_partner(
    delivered_ids: Callable[[], set[str]],
    queued: Callable[[], int],
    inserted: frozenset[str],
    *,
    timeout_s: float,
    quiet_s: float = QUIET_S,
    poll_s: float = POLL_S,
    on_poll: Callable[[DrainOutcome], None] = lambda outcome: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainOutcome:
    """Until every insert was answered 2xx and the CDC queue is empty, the queue stays empty for
    ``quiet_s`` with inserts still undelivered (lost), or ``timeout_s`` passes."""
    started = clock()
    empty_since: float | None = None
    for _ in range(int(timeout_s / max(poll_s, 0.01)) + 2):
        delivered, left, now = delivered_ids() & inserted, queued(), clock()
        undelivered = len(inserted) - len(delivered)
        outcome = DrainOutcome(len(delivered), undelivered, left, round(now - started, 3), False, False)
        on_poll(outcome)
        if not undelivered and not left:
            return outcome
        empty_since = None if left else (empty_since if empty_since is not None else now)
        if empty_since is not None and now - empty_since >= quiet_s:
            outcome.quiet = True
            return outcome
        if now - started >= timeout_s:
            break
        sleep(poll_s)
    outcome.timed_out = True
    return outcome


# --- the run --------------------------------------------------------------------------------------


class CdcLoadStage:
    """What the run needs of the stage, checked before any load."""

    def __init__(self, outputs: StackOutputs | None, drive: TrickleDrive | None, processes: int) -> None:
        if outputs is None:
            raise HookstackError(
                f"--scenario {SCENARIO} writes a deployed stage's source table: pass --target (and --stage) of one "
                'with the cdc pattern and a partner_url (`hookstack up` with patterns = ["cdc"])'
            )
        if processes:
            raise UsageError(
                f"--scenario {SCENARIO} writes from one Locust process (each customer's write order is one "
                "writer's): drop --processes"
            )
        self.outputs = outputs
        self.stage = CdcStage(outputs)
        try:
            self.stage.partner.health()
        except PartnerError:
            raise HookstackError(
                f"the trickle's partner_url {self.stage.partner_url} is not a partner simulator (no answer at "
                f"/_partner/health): {SCENARIO} reads the partner's records; start `hookstack partner` and set its URL"
            ) from None
        self.drive = drive or default_drive(outputs.target)
        if self.drive == TrickleDrive.fire and outputs.target == "aws":
            typer.confirm(
                f"fire {self.stage.schedule.rule_name}'s target on AWS run after run for this load?", abort=True
            )

    def check_quiet(self, console: Console, wait: bool, limit_s: float) -> None:
        """A backlog on the CDC queue would be sent first and lengthen every lag: refused, or
        (``--wait-for-quiet`` with ``--trickle fire``) sent on first."""
        left = self.stage.queued()
        if not left:
            return
        if not (wait and self.drive == TrickleDrive.fire):
            raise HookstackError(
                f"the CDC queue of stage {self.outputs.stage} holds {left} message(s) from before this run: pass "
                "--wait-for-quiet (with --trickle fire) to send them on first, or `hookstack schedule fire cdc-steady`"
            )
        console.print(f"sending {left} message(s) left on the CDC queue first")
        driver = TrickleDriver(self.stage.deployed_trickle(), max_s=limit_s).start()
        try:
            outcome = wait_for_partner(lambda: set(), self.stage.queued, frozenset(), timeout_s=limit_s)
        finally:
            driver.stop()
        if outcome.queued:
            raise HookstackError(f"the CDC queue still holds {outcome.queued} message(s) after {limit_s:g} s")


def _locust_access(outputs: StackOutputs, table: str, run_id: str) -> tuple[dict[str, str], dict[str, str], str]:
    """(Locust options, environment, host): the table, the endpoint, the credentials (environment
    only: never on a command line)."""
    target = outputs.as_target()
    credentials = target.session().get_credentials()
    if credentials is None:
        raise HookstackError(f"no AWS credentials for {outputs.target}")
    frozen = credentials.get_frozen_credentials()
    environment = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    if frozen.token:
        environment["AWS_SESSION_TOKEN"] = frozen.token
    options = {"--cdc-table": table, "--cdc-run-id": run_id, "--aws-region": outputs.region}
    if outputs.endpoint_url:
        options["--aws-endpoint-url"] = outputs.endpoint_url
    host = outputs.endpoint_url or f"https://dynamodb.{outputs.region}.amazonaws.com"
    return options, environment, host


class _Progress(Progress):
    """One line every few seconds: the load (with the trickle's state), then the drain."""

    def __init__(self, console: Console, duration: float, status: Callable[[], str]) -> None:
        super().__init__(console, duration)
        self.status = status

    def on_load(self, line: dict[str, Any]) -> None:
        self.line(
            lambda: (
                f"load t={max(0.0, line['load_time']):.0f}/{self.duration:.0f}s "
                f"offered={line['offered_rps']:.0f}/s writes sent={line['sent']} acknowledged={line['acks']} "
                f"errors={line['errors']} · {self.status()}"
            )
        )

    def on_drain(self, outcome: DrainOutcome) -> None:
        self.line(
            lambda: (
                f"drain {outcome.waited_s:.0f}s: delivered {outcome.delivered}, "
                f"undelivered {outcome.undelivered}, CDC queue {outcome.queued}"
            )
        )


def _safe_depth(sqs: Any, url: str | None) -> int | None:
    if url is None:
        return None
    try:
        return queue_depth(sqs, url)
    except Exception:  # noqa: BLE001 - boto3 raises many types; a figure not read is None, not a guess
        return None


def _delivered_ids(stage: CdcStage, mark: cdc_report.PartnerMark, run_id: str) -> set[str]:
    return set(cdc_report.tally(stage.partner.trickle(), mark, run_id).first)


def _print_cdc(console: Console, summary: dict[str, Any], paths: tuple[Path, Path]) -> None:
    cdc, trickle = summary["cdc"], summary["trickle"]
    limit = cdc["partner_limit"]
    table = Table(title=f"hookstack load · {SCENARIO} · {summary['target']}", show_header=False)
    rows = [
        ("writes offered / achieved", f"{summary['offered_rps']} / {summary['achieved_rps']} /s"),
        ("writes: inserts / updates / deletes", " / ".join(str(cdc["writes"].get(k, 0)) for k in KINDS)),
        ("items inserted / updated / deleted", f"{cdc['inserted']} / {cdc['updated']} / {cdc['deleted']}"),
        ("write latency p50/p99/max", " / ".join(str(summary[f"{k}_ms"]) for k in ("p50", "p99", "max")) + " ms"),
        ("write errors", f"{summary['errors']} ({summary['status_counts']})"),
        ("delivered / undelivered / duplicates", f"{cdc['delivered']} / {summary['undelivered']} / "
         f"{summary['duplicates']}"),
        ("order violations / leaked updates+deletes", f"{summary['order_violations']} / {summary['leaked']}"),
        ("lag insert → 2xx p50/p99/max", " / ".join(str(summary[f"lag_{k}_ms"]) for k in ("p50", "p99", "max"))
         + " ms"),
        ("most in any 1 s / partner allows", f"{summary['most_in_1s']} / {limit['allowed_in_1s']}"),
        ("answered 429 / injected faults", f"{summary['answered_429']} / {summary['answered_5xx']}"),
        ("delivered per s / last delivery after load", f"{summary['delivered_per_s']} / "
         f"{summary['trickle_drain_s']} s"),
        ("trickle", f"{trickle['mode']}, {trickle['runs']} runs, rate {trickle['rate_per_s']}/s"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    print_run_table(console, table, summary, paths)


def run(
    *,
    prepared: CdcLoadStage,
    params: LoadParams,
    report_dir: Path,
    drain_timeout_s: float,
    wait_for_quiet: bool,
    gates: list[Gate],
    baseline_run: Path | None,
    baseline_summary: dict[str, Any] | None,
    junit: Path | None,
) -> None:
    """The whole run; exits 1 on a failed gate, 130 when interrupted (partial reports written)."""
    console = Console(stderr=True)
    outputs, stage = prepared.outputs, prepared.stage
    prepared.check_quiet(console, wait_for_quiet, drain_timeout_s)
    run_id = f"cdc{secrets.token_hex(3)}"
    options, environment, host = _locust_access(outputs, stage.table, run_id)
    locust = LocustRun(
        url=host,
        params=params,
        report_dir=report_dir,
        user_class=USER_CLASS,
        extra_options=options,
        extra_environment=environment,
    )
    faults = stage.partner.faults()["trickle"]
    mark = cdc_report.PartnerMark.of(stage.partner.trickle(), faults.rate_limit_per_s, faults.burst)
    sqs = stage.sqs
    dlq_before = _safe_depth(sqs, stage.dlq_url)
    failures_before = _safe_depth(sqs, stage.capture_failures_url)
    budget = locust.time_budget() + drain_timeout_s + 60
    sampler = BacklogSampler(sqs, stage.queue_url, stage.dlq_url, max_seconds=budget)
    driver: TrickleDriver | None = None
    if prepared.drive == TrickleDrive.fire:
        fire_once = stage.deployed_trickle()
        with console.status("firing the trickle once on the empty queue (its cold start is not the scenario's)"):
            try:
                fire_once()
            except HookstackError as exc:
                raise HookstackError(f"the trickle cannot run: {exc}") from None
        driver = TrickleDriver(fire_once, max_s=budget)

    def status() -> str:
        """The CDC queue's last sample and what the partner accepted since the run began."""
        sample = sampler.latest()
        try:
            accepted = str(sum(1 for r in stage.partner.trickle().accepted if r.seq > mark.last_seq))
        except PartnerError:
            accepted = "?"
        depth = f"{sample.visible} visible, {sample.in_flight} in flight" if sample is not None else "not sampled yet"
        return f"CDC queue {depth} · partner accepted {accepted}"

    progress = _Progress(console, params.duration, status)
    console.print(
        f"{SCENARIO}: writing {stage.table} as run {run_id}; trickle {prepared.drive} "
        f"(rate {stage.trickle_rate_per_s:g}/s, ≤ {stage.trickle_max_messages} a run); partner {stage.partner_url}"
    )
    stopped_during: str | None = None
    drain: DrainOutcome | None = None
    sampler.start()
    if driver is not None:
        driver.start()
    try:
        try:
            result = run_locust(locust, on_progress=progress.on_load)
        except LocustRunError as exc:
            raise HookstackError(str(exc)) from None
        except LocustInterrupted as exc:
            if exc.result is None:
                raise KeyboardInterrupt from None
            result, stopped_during = interrupted.measured_part(exc.result), "load"
        writes = RunWrites.from_ack_ids(result.get("acked_ids", []))
        if stopped_during is None:
            try:
                drain = wait_for_partner(
                    lambda: _delivered_ids(stage, mark, run_id),
                    stage.queued,
                    writes.inserted,
                    timeout_s=drain_timeout_s,
                    on_poll=progress.on_drain,
                )
            except KeyboardInterrupt:
                stopped_during = "drain"
    finally:
        if driver is not None:
            driver.stop(join_s=1.0 if stopped_during else DRIVER_JOIN_S)
        sampler.stop()
    records = stage.partner.trickle()
    load_end = result["origin_epoch"] + result["duration_s"]
    summary, _ = run_summary.build(result, target=outputs.target, drain=None, drain_note=E2E_NOTE)
    summary.update(breakdown.summary_fields(result, None))
    summary.update(
        cdc_report.figures(
            records, mark, writes, run_prefix=run_id, load_end_epoch=load_end, complete=stopped_during is None
        )
    )
    dlq_after, failures_after = _safe_depth(sqs, stage.dlq_url), _safe_depth(sqs, stage.capture_failures_url)
    summary["cdc"].update(
        {
            "run_id": run_id,
            # Writes acknowledged per kind (an item may be updated more than once: ``updated`` counts items).
            "writes": {
                key.removeprefix(REQUEST_PREFIX): (entry.get("ack") or {}).get("count", 0)
                for key, entry in summary["by_key"].items()
                if key.startswith(REQUEST_PREFIX)
            },
            "table": stage.table,
            "queue_left": _safe_depth(sqs, stage.queue_url),
            "dlq_gained": None if dlq_after is None or dlq_before is None else max(0, dlq_after - dlq_before),
            "capture_failures": None
            if failures_after is None or failures_before is None
            else max(0, failures_after - failures_before),
            "drain_waited_s": drain.waited_s if drain else None,
            "drain_timed_out": drain.timed_out if drain else None,
            "drain_stopped_quiet": drain.quiet if drain else None,
        }
    )
    summary["trickle"] = {
        "mode": str(prepared.drive),
        "schedule": stage.schedule.rule_name,
        "rate_per_s": stage.trickle_rate_per_s,
        "max_messages": stage.trickle_max_messages,
        "runs": driver.runs if driver else None,
        "runs_refused": driver.refused if driver else None,
        "failures": driver.failures if driver else None,
        "last_error": driver.last_error if driver else None,
    }
    summary["warmup"] = {"requests": 0, "note": "the trickle fired once on the empty queue before the load"}
    results = judge(gates, summary)
    plot = run_summary.series(result, sampler.samples)
    plot["errors_timeline"] = breakdown.errors_timeline(result)
    plot.update(cdc_report.series(records, mark, run_id, result["origin_epoch"]))
    if driver is not None and driver.failures:
        console.print(f"[yellow]{driver.failures} trickle run(s) failed; the last: {driver.last_error}[/]")
    finish_run(
        summary,
        results,
        plot,
        result=result,
        stopped_during=stopped_during,
        report_dir=locust.report_dir,
        section=cdc_html.section,
        print_table=_print_cdc,
        scenario=SCENARIO,
        junit=junit,
        baseline_run=baseline_run,
        baseline_summary=baseline_summary,
    )
