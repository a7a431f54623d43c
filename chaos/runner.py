"""Runs one drill end to end: pre-flight, the drill, reconcile, fix and replay, reconcile again,
verdict. Every fault is removed at the end whatever happened (the whole parameter is deleted).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos.context import DrillContext, DrillSettings
from chaos.drills import DRILLS, Drill, Fixes
from chaos.reconcile import Reconciliation, reconcile
from chaos.stage import StageTimings, read_timings
from stack.deploy.outputs import StackOutputs
from stack.embedded.interpreters import FunctionsPython
from stack.errors import HookstackError
from stack.fidelity.divergences import fidelity_report
from stack.ops.dlq import replay

MAX_REPLAY_ROUNDS = 3
# Reconcile, fix and replay, reconcile: replayed messages are processed at once when the fix holds.
FIX_AND_REPLAY_ESTIMATE_S = 15.0


# What a drill's verdict rests on: queue delivery and redrive, the mappings, errors, the runtime.
DRILL_AREAS = {"sqs-fifo", "event-source-mapping", "lambda-errors", "lambda-runtime"}


@dataclass
class DrillResult:
    drill: str
    summary: str
    verdict: str  # PASS | FAIL
    run_id: str
    target: str
    stage: str
    settings: dict[str, Any]
    timings: dict[str, float]
    started_at: float
    duration_s: float
    counts: dict[str, Any]
    checks: list[dict[str, Any]]
    before_fix: dict[str, Any] | None
    after_replay: dict[str, Any] | None
    replay_errors: list[str]
    error: str | None
    timeline: dict[str, Any]
    failures: list[str] = field(default_factory=list)
    jobs: dict[str, Any] | None = None  # a jobs drill's reconciliation (chaos.jobs_reconcile)
    reconciliation_title: str = "Jobs reconciliation"  # the report's heading for ``jobs``
    consumer_logs: dict[str, str] = field(default_factory=dict)  # a jobs drill's consumers: last lines
    interrupted: bool = False  # Ctrl-C stopped it: the report holds what it got to
    functions_python: FunctionsPython | None = None  # the stage's (outputs): which interpreter ran the functions

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    def as_dict(self) -> dict[str, Any]:
        fields = {key: value for key, value in self.__dict__.items() if key != "functions_python"}
        return {**fields, "fidelity": self.fidelity}  # fidelity carries the interpreter that ran the functions

    @property
    def fidelity(self) -> dict[str, Any]:
        """The target's known divergences from AWS that bear on what a drill proves."""
        return fidelity_report(self.target, DRILL_AREAS, self.functions_python)


def broken_replay(sqs: Any, dlq_url: str) -> int:
    """Sabotage: deletes each dead letter *before* re-sending it, and dies before the send — the
    bug a drill must catch. Returns how many it claims to have replayed."""
    claimed = 0
    for _ in range(50):
        messages = (
            sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=30, WaitTimeSeconds=0).get(
                "Messages"
            )
            or []
        )
        if not messages:
            break
        for message in messages:
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            claimed += 1  # … and the send that should follow never happens
    return claimed


def fix_and_replay(ctx: DrillContext, fixes: Fixes) -> None:
    """The fix (faults off, corrected payloads), then replay the DLQ until it is empty (bounded)."""
    ctx.timeline.mark("fix", f"faults off; {len(fixes)} corrected payloads")
    ctx.faults_off()
    sqs, dynamodb = ctx.outputs.client("sqs"), ctx.outputs.client("dynamodb")
    out = ctx.outputs
    fixed: set[str] = set()
    for round_number in range(1, MAX_REPLAY_ROUNDS + 1):
        depth = ctx.observer.dlq_depth()
        if depth == 0 or ctx.remaining() <= 0:
            break
        ctx.timeline.mark("replay", f"round {round_number}: DLQ depth {depth}")
        ctx.progress(f"replay round {round_number}: {depth} dead letters")
        if ctx.settings.sabotage == "broken-replay":
            ctx.replayed += broken_replay(sqs, out.dlq_url)
        else:
            for event_id, body in fixes.items():
                if event_id in fixed:
                    continue
                result = replay(
                    sqs,
                    dynamodb,
                    out.events_table,
                    out.queue_url,
                    out.dlq_url,
                    ids=[event_id],
                    body_override=body,
                    wait_seconds=ctx.observer.receive_wait_s,
                )
                ctx.replayed += result.replayed
                ctx.replay_errors.extend(result.errors)
                if event_id in result.replayed_ids:
                    fixed.add(event_id)
            pending_fixes = [e for e in fixes if e not in fixed]
            if not pending_fixes:  # never replay a payload that has a correction as it was
                result = replay(
                    sqs,
                    dynamodb,
                    out.events_table,
                    out.queue_url,
                    out.dlq_url,
                    all=True,
                    wait_seconds=ctx.observer.receive_wait_s,
                )
                ctx.replayed += result.replayed
                ctx.replay_errors.extend(result.errors)
        ctx.settle(f"replay round {round_number} processed")


def _preflight(ctx: DrillContext) -> None:
    active = ctx.switch.active()
    if active:
        raise HookstackError(
            f"faults are already active on stage {ctx.outputs.stage} "
            f"({', '.join(f.id for f in active)}): `hookstack chaos off` first"
        )
    depth = ctx.observer.dlq_depth()
    if depth:
        raise HookstackError(
            f"the DLQ of stage {ctx.outputs.stage} holds {depth} message(s) from before this "
            "drill: inspect and replay them (`hookstack dlq list`) first"
        )
    if not ctx.observer.wait_settled([], min(30.0, ctx.remaining())):
        raise HookstackError("the ingestion queue is busy: drills need a quiet stage")


def _counts(ctx: DrillContext, before: Reconciliation | None, after: Reconciliation | None) -> dict[str, Any]:
    phases = [r for r in (before, after) if r is not None]
    final = after or before
    return {
        "sent": len(ctx.ledger.answers),
        "reinjected": len(ctx.ledger.reinjected),
        "acked": final.acked if final else 0,
        "rejected": final.rejected if final else {},
        "processed_before_fix": before.processed if before else 0,
        "processed": final.processed if final else 0,
        "dead_lettered": before.dead_lettered if before else 0,
        "dead_lettered_by_reason": before.dead_letter_reasons if before else {},
        "replayed": ctx.replayed,
        "duplicates_applied": max((r.duplicates_applied for r in phases), default=0),
        "order_violations": max((r.order_violations for r in phases), default=0),
        "missing": max((r.missing for r in phases), default=0),
        "unexpected_outcomes": max((r.unexpected for r in phases), default=0),
        "stale_status": before.stale_status if before else 0,
        "dlq_depth_end": after.dlq_depth if after else None,
    }


def run_drill(
    drill: Drill | str,
    outputs: StackOutputs,
    settings: DrillSettings | None = None,
    *,
    progress: Callable[[str], None] = lambda message: None,
    timings: StageTimings | None = None,
) -> DrillResult:
    drill = DRILLS[drill] if isinstance(drill, str) else drill
    settings = settings or DrillSettings()
    timings = timings or read_timings(outputs)
    estimate = drill.estimate(timings) + FIX_AND_REPLAY_ESTIMATE_S
    if estimate > settings.max_seconds:
        raise HookstackError(
            f"{drill.name} needs about {estimate:.0f}s on stage {outputs.stage} (visibility timeout "
            f"{timings.visibility_timeout_s:g}s, worker timeout {timings.worker_timeout_s:g}s) and the budget is "
            f"{settings.max_seconds:g}s: raise --max-seconds, or run it on a drill-sized stage (embedded: --fresh)"
        )
    ctx = DrillContext(outputs, timings, settings, progress)
    started_at, started = time.time(), time.monotonic()
    before = after = None
    error = None
    interrupted = False
    _preflight(ctx)
    ctx.timeline.start()
    try:
        ctx.timeline.mark("drill_start", drill.name)
        fixes = drill.run(ctx)
        before = reconcile(ctx.ledger, ctx.observer.snapshot(ctx.ledger.by_event_id()), "before_fix")
        ctx.progress(
            f"reconciled before the fix: {before.processed} processed, {before.dead_lettered} "
            f"dead-lettered, {before.missing} missing"
        )
        fix_and_replay(ctx, fixes)
        after = reconcile(ctx.ledger, ctx.observer.snapshot(ctx.ledger.by_event_id()), "after_replay")
        ctx.progress(f"reconciled after the replay: {after.processed} processed, DLQ depth {after.dlq_depth}")
    except HookstackError as exc:
        error = str(exc)
    except KeyboardInterrupt:  # stopped by hand: faults off (below), and a report of what was done
        error, interrupted = "interrupted (Ctrl-C)", True
    except Exception as exc:  # noqa: BLE001 - the drill itself broke: FAIL with the cause, never a silent pass
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
    finally:
        try:
            ctx.switch.off()
            ctx.timeline.mark("faults_off", "every fault removed")
        finally:
            ctx.timeline.stop()
    failures = []
    if error:
        failures.append(f"drill error: {error.splitlines()[0]}")
    for phase in (before, after):
        if phase is not None and not phase.ok:
            failures.extend(f"{phase.phase}: {p}" for p in phase.problems[:10])
            if not phase.problems:
                failures.append(f"{phase.phase}: counts out of bounds")
    failures.extend(f"check failed: {c.name}: {c.detail}" for c in ctx.checks if not c.ok)
    if before is None or after is None:
        failures.append("the drill did not reach both reconciliations")
    return DrillResult(
        drill=drill.name,
        summary=drill.summary,
        verdict="FAIL" if failures else "PASS",
        run_id=ctx.run_id,
        target=outputs.target,
        stage=outputs.stage,
        functions_python=outputs.functions_python,
        settings=settings.__dict__,
        timings=timings.as_dict(),
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 2),
        counts=_counts(ctx, before, after),
        checks=[c.__dict__ for c in ctx.checks],
        before_fix=before.as_dict() if before else None,
        after_replay=after.as_dict() if after else None,
        replay_errors=ctx.replay_errors[:20],
        error=error,
        timeline=ctx.timeline.as_dict(),
        failures=failures,
        interrupted=interrupted,
    )
