"""The drills. Each one sends a known set of events (several message groups, in order per group),
injects its faults, waits, recovers, and returns the fixes for the fix-and-replay step (event id →
corrected body; an empty dict means the fix is turning the faults off). The runner then reconciles,
fixes, replays the DLQ and reconciles again (``chaos.runner``).

A drill also checks that its fault had an effect: a drill whose fault never fired proved nothing
and fails.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from chaos.context import DrillContext
from chaos.drift import CASES, plan_drift
from chaos.observe import scan_projections
from chaos.stage import StageTimings
from chaos.traffic import (
    TENANT,
    Expectation,
    GroupSpec,
    PlannedEvent,
    baseline_delivery,
    group_specs,
    plan_baseline,
    reinject,
)
from handlers.contract.message import DeadLetterKind, message_group_id
from stack.clients import providers as client_providers
from stack.errors import HookstackError

Fixes = dict[str, bytes]


@dataclass(frozen=True)
class Drill:
    name: str
    summary: str
    run: Callable[[DrillContext], Fixes]
    estimate: Callable[[StageTimings], float]  # seconds, before the fix-and-replay step


def outage_window(timings: StageTimings) -> float:
    """How long a transient outage lasts: shorter than one visibility timeout, so every failed
    event is retried after the outage (the retry budget is not the point of these drills)."""
    return max(4.0, min(60.0, timings.visibility_timeout_s * 0.5))


def group_of(spec: GroupSpec) -> str:
    return message_group_id(TENANT, spec.key)


def fault_reason(*fault_ids: str) -> tuple[str, ...]:
    return tuple(rf"injected fault {fault_id}\b" for fault_id in fault_ids)


def _attempted_again(ctx: DrillContext, events: list[PlannedEvent]) -> int:
    return sum(1 for item in ctx.statuses(events).values() if int(item.get("attempts", 0) or 0) >= 2)


def _written_before_a_retry(ctx: DrillContext, events: list[PlannedEvent]) -> int:
    """Events whose business write landed in an earlier attempt than the last one (the applied
    log entry is older than the last attempt's start): the retry found the write done."""
    _, logs = scan_projections(ctx.observer.dynamodb, ctx.outputs.projections_table, TENANT)
    written_at = {
        entry.event_id: entry.at_ms for entries in logs.values() for entry in entries if entry.generation == 0
    }
    count = 0
    for event_id, item in ctx.statuses(events).items():
        if int(item.get("attempts", 0) or 0) >= 2 and event_id in written_at:
            count += written_at[event_id] < int(item.get("processing_at", 0) or 0)
    return count


def _maybe_sabotage_writes(ctx: DrillContext, events: list[PlannedEvent]) -> None:
    """skip-write sabotage: the worker reports one group's events applied without writing them."""
    if ctx.settings.sabotage == "skip-write" and events:
        ctx.faults_on(ctx.fault("sabotage-skip", "worker", "write", "skip", groups=(events[0].group,)))


# --- schema-drift ----------------------------------------------------------------------------------


def schema_drift(ctx: DrillContext) -> Fixes:
    planned = ctx.plan(
        plan_drift(ctx.run_id, ctx.secrets, events=ctx.settings.events, groups=ctx.settings.groups, seed=ctx.seed)
    )
    ctx.applied_log_on()
    _maybe_sabotage_writes(ctx, planned)
    ctx.timeline.mark("drift", "drifted payloads in the traffic")
    ctx.send(planned, "drifted traffic")
    ctx.settle("drift processed")
    labels = {event.expectation.label for event in planned}
    covered = sorted(case for case in CASES if f"drift:{case}" in labels)
    ctx.check(
        "every drift case sent",
        len(covered) == len(CASES),
        f"{len(covered)}/{len(CASES)} cases: {', '.join(covered)} (all six need 24 events over 4 groups)",
    )
    return {event.event_id: event.fixed_body for event in planned if event.fixed_body is not None}


# --- poison-message --------------------------------------------------------------------------------


def _poison(event: PlannedEvent, ctx: DrillContext, rng: random.Random) -> PlannedEvent:
    """The same delivery (same id, same group) with a body no model accepts; the fix is the original."""
    delivery = event.delivery
    sender = client_providers.get(delivery.provider)
    poisoned = sender.delivery(
        delivery.topic,
        ctx.secrets[delivery.provider],
        group_key=event.group_key,
        rng=rng,
        delivery_id=delivery.delivery_id,
        body=sender.poison_body(json.loads(delivery.body), event.group_key),
    )
    return PlannedEvent(
        event.key,
        poisoned,
        event.group_key,
        Expectation("dead_lettered", (r"^schema mismatch",), "poison"),
        fixed_body=delivery.body,
    )


def poison_message(ctx: DrillContext) -> Fixes:
    rng = random.Random(f"{ctx.seed}:poison")
    baseline = plan_baseline(
        ctx.run_id, ctx.secrets, events=ctx.settings.events, groups=ctx.settings.groups, seed=ctx.seed, prefix="p"
    )
    groups = ctx.settings.groups
    # One poison in every group, early enough that several valid events follow it.
    poisoned_positions = {groups * (1 + g % 2) + g for g in range(groups)}
    planned = ctx.plan(_poison(e, ctx, rng) if i in poisoned_positions else e for i, e in enumerate(baseline))
    ctx.applied_log_on()
    _maybe_sabotage_writes(ctx, planned)
    ctx.timeline.mark("poison", f"{len(poisoned_positions)} poison messages in the traffic")
    ctx.send(planned, "traffic with poison messages")
    ctx.settle("poison dead-lettered, groups carry on")
    statuses = ctx.statuses(planned)
    poison = [e for e in planned if e.expectation.label == "poison"]
    ctx.check(
        "poison reached the DLQ at once (no retries)",
        bool(poison)
        and all(
            statuses.get(e.event_id, {}).get("dead_letter_kind") == DeadLetterKind.PERMANENT
            and int(statuses.get(e.event_id, {}).get("attempts", 0) or 0) == 1
            for e in poison
        ),
        f"{len(poison)} poison messages, each dead-lettered on its first attempt",
    )
    return {event.event_id: event.fixed_body for event in poison if event.fixed_body is not None}


# --- downstream-outage -----------------------------------------------------------------------------


def downstream_outage(ctx: DrillContext) -> Fixes:
    specs = group_specs(ctx.run_id, ctx.settings.groups)
    # One kind of downstream failure per group, so each dead letter (if any) names its own fault.
    kinds = [
        lambda g, i: [
            ctx.fault(
                f"outage-throttle{i}",
                "worker",
                "write",
                "throttle",
                groups=(g,),
                error_code="ProvisionedThroughputExceededException",
            )
        ],
        lambda g, i: [ctx.fault(f"outage-error{i}", "worker", "write", "error", groups=(g,))],
        lambda g, i: [ctx.fault(f"outage-partner5xx{i}", "worker", "partner", "error", groups=(g,), status_code=503)],
        lambda g, i: [
            ctx.fault(
                f"outage-throttling{i}",
                "worker",
                "write",
                "throttle",
                groups=(g,),
                error_code="ThrottlingException",
                percentage=50,
            ),
            ctx.fault(f"outage-partnertimeout{i}", "worker", "partner", "timeout", groups=(g,), latency_ms=300),
        ],
    ]
    faults_by_group = {spec.key: kinds[index % len(kinds)](group_of(spec), index) for index, spec in enumerate(specs)}
    all_faults = [f for faults in faults_by_group.values() for f in faults]

    def expectation(spec, index) -> Expectation:
        ids = [f.id for f in faults_by_group[spec.key]]
        return Expectation("processed_or_dead_lettered", fault_reason(*ids), "outage")

    planned = ctx.plan(
        plan_baseline(
            ctx.run_id,
            ctx.secrets,
            events=ctx.settings.events,
            groups=ctx.settings.groups,
            seed=ctx.seed,
            expectation=expectation,
            prefix="o",
        )
    )
    ctx.applied_log_on()
    _maybe_sabotage_writes(ctx, planned)
    window = outage_window(ctx.timings)
    ctx.faults_on(*all_faults)
    started = time.monotonic()
    ctx.send(planned, "traffic during the outage")
    ctx.pause(window - (time.monotonic() - started), "the outage lasts its window")
    ctx.faults_off()
    ctx.settle("recovery: retries after the outage")
    for spec in specs:
        group_events = [e for e in planned if e.group_key == spec.key]
        retried = _attempted_again(ctx, group_events)
        kinds_here = ", ".join(f.id.rsplit("-", 1)[0] for f in faults_by_group[spec.key])
        ctx.check(
            f"{kinds_here}: the worker retried",
            retried > 0,
            f"{retried} of {len(group_events)} events needed more than one attempt",
        )
    return {}


# --- slow-downstream -------------------------------------------------------------------------------


def _stuck(ctx: DrillContext, events: list[PlannedEvent], longer_than_s: float) -> bool:
    """An event of these has been PROCESSING for longer than ``longer_than_s``: its invocation
    died mid-record (timed out, or the process exited). A record normally takes milliseconds."""
    now_ms = time.time() * 1000
    return any(
        item.get("status") == "PROCESSING" and now_ms - float(item.get("processing_at", now_ms)) > longer_than_s * 1000
        for item in ctx.statuses(events).values()
    )


def slow_downstream(ctx: DrillContext) -> Fixes:
    if ctx.settings.groups < 2:
        raise HookstackError("slow-downstream needs at least 2 message groups (one per phase)")
    specs = group_specs(ctx.run_id, ctx.settings.groups)
    latency_ms = int((ctx.timings.worker_timeout_s + 1.5) * 1000)  # beyond the function timeout
    half = len(specs) // 2
    before_groups = {group_of(s) for s in specs[:half]}
    after_groups = {group_of(s) for s in specs[half:]}
    planned = ctx.plan(
        plan_baseline(
            ctx.run_id, ctx.secrets, events=ctx.settings.events, groups=ctx.settings.groups, seed=ctx.seed, prefix="s"
        )
    )
    first = [e for e in planned if e.group in before_groups]
    second = [e for e in planned if e.group in after_groups]
    ctx.applied_log_on()
    _maybe_sabotage_writes(ctx, planned)
    window = outage_window(ctx.timings)
    started = time.monotonic()
    # Phase 1: the write itself is slow (nothing written before the timeout).
    ctx.faults_on(
        ctx.fault(
            "slow-write", "worker", "write", "latency", latency_ms=latency_ms, groups=tuple(sorted(before_groups))
        )
    )
    ctx.send(first, "traffic while writes are slow")
    timed_out_after = ctx.timings.worker_timeout_s + 0.5
    ctx.wait_for(lambda: _stuck(ctx, first, timed_out_after), window, "a batch times out on a slow write")
    # Phase 2, other groups (FIFO hides only the groups in flight): the write lands, then the
    # function hangs past its timeout, so the retry finds the write done and must not repeat it.
    ctx.faults_on(
        ctx.fault(
            "slow-after-write",
            "worker",
            "after_write",
            "latency",
            latency_ms=latency_ms,
            groups=tuple(sorted(after_groups)),
        )
    )
    ctx.send(second, "traffic while the function hangs after writing")
    ctx.wait_for(lambda: _stuck(ctx, second, timed_out_after), window, "a batch times out after its write landed")
    ctx.pause(window - (time.monotonic() - started), "the slowness lasts its window")
    ctx.faults_off()
    ctx.settle("recovery: timed-out batches retried")
    for name, events in (("slow write", first), ("hang after the write", second)):
        retried = _attempted_again(ctx, events)
        ctx.check(
            f"{name}: a timeout made the worker retry",
            retried > 0,
            f"{retried} events needed more than one attempt (latency {latency_ms} ms > timeout "
            f"{ctx.timings.worker_timeout_s:g} s)",
        )
    landed = _written_before_a_retry(ctx, second)
    ctx.check(
        "a write that landed before the timeout was retried",
        landed > 0,
        f"{landed} events were written in an attempt that then timed out",
    )
    return {}


# --- worker-crash ----------------------------------------------------------------------------------


def worker_crash(ctx: DrillContext) -> Fixes:
    after_writes = 2
    gate_spec = group_specs(f"{ctx.run_id}gate", 1)[0]
    gate = PlannedEvent(
        "gate", baseline_delivery(gate_spec, ctx.secrets, random.Random(f"{ctx.seed}:gate")), gate_spec.key
    )
    planned = plan_baseline(
        ctx.run_id, ctx.secrets, events=ctx.settings.events, groups=ctx.settings.groups, seed=ctx.seed, prefix="c"
    )
    ctx.plan([gate, *planned])
    # The gate holds one batch in flight for a moment while the traffic queues, so the next batches
    # hold several records: the crash then happens in the middle of a batch, after `after_writes`
    # records were written.
    gate_ms = int(min(2.0, ctx.timings.worker_timeout_s * 0.6) * 1000)
    gate_fault = ctx.fault(
        "crash-gate", "worker", "write", "latency", latency_ms=gate_ms, groups=(gate.group,), max_attempt=1
    )
    crash = ctx.fault(
        "crash",
        "worker",
        "after_write",
        "crash",
        after_writes=after_writes,
        groups=tuple(sorted({e.group for e in planned})),
        max_attempt=1,
    )
    ctx.applied_log_on()
    _maybe_sabotage_writes(ctx, planned)
    ctx.faults_on(gate_fault, crash)
    ctx.send([gate], "gate event")
    ctx.send(planned, "traffic behind the gate")
    # Off as soon as a batch died (a record left PROCESSING): every later first delivery would
    # crash another batch and cost another visibility timeout.
    ctx.wait_for(
        lambda: _stuck(ctx, planned, 1.5), min(20.0, ctx.timings.visibility_timeout_s), "a batch crashed mid-way"
    )
    ctx.faults_off()
    ctx.settle("recovery: the crashed batch is redelivered")
    retried = _attempted_again(ctx, planned)
    landed = _written_before_a_retry(ctx, planned)
    ctx.check(
        "the worker crashed mid-batch, after a write",
        retried > 0 and landed > 0,
        f"{retried} events attempted again after os._exit (after write number {after_writes} of a batch), "
        f"{landed} of them written before the crash",
    )
    return {}


# --- retry-storm -----------------------------------------------------------------------------------


def retry_storm(ctx: DrillContext) -> Fixes:
    planned = ctx.plan(
        plan_baseline(
            ctx.run_id, ctx.secrets, events=ctx.settings.events, groups=ctx.settings.groups, seed=ctx.seed, prefix="r"
        )
    )
    ctx.applied_log_on()
    _maybe_sabotage_writes(ctx, planned)
    ctx.send(planned, "first deliveries")
    repeats = 2
    ctx.timeline.mark("storm", f"every delivery re-sent {repeats}× inside the dedup window")
    for round_number in range(repeats):
        ctx.send(planned, f"retry storm {round_number + 1}/{repeats} (same deliveries)")
    ctx.timeline.mark("late_retries", "copies re-injected with fresh dedup ids (a retry hours later)")
    sqs = ctx.outputs.client("sqs")
    acked = ctx.ledger.first_ack()
    for event in planned:
        if event.event_id in acked:
            reinject(sqs, ctx.outputs.queue_url, event)
            ctx.ledger.reinjected.append(event.event_id)
    ctx.progress(f"re-injected {len(ctx.ledger.reinjected)} late copies")
    ctx.settle("storm absorbed")
    statuses = ctx.statuses(planned)
    counted = sum(1 for e in planned if int(statuses.get(e.event_id, {}).get("deliveries", 0) or 0) >= 1 + repeats)
    ctx.check(
        "every HTTP retry was acknowledged and counted",
        counted == len(planned),
        f"{counted}/{len(planned)} events show {1 + repeats} deliveries",
    )
    same_id = all(a.status == 202 for a in ctx.ledger.answers)
    ctx.check(
        "retries answered 202 with the same event id",
        same_id,
        f"{sum(1 for a in ctx.ledger.answers if a.status == 202)}/{len(ctx.ledger.answers)} answers were 202",
    )
    return {}


# --- replay ----------------------------------------------------------------------------------------


def replay_drill(ctx: DrillContext) -> Fixes:
    specs = group_specs(ctx.run_id, ctx.settings.groups)
    broken_group = group_of(specs[0])
    # The partner is down for longer than the retry budget: the group's events exhaust their
    # receives and SQS moves them to the DLQ. The fix: the partner is back (fault off), replay.
    partner_down = ctx.fault(
        "replay-partner-down", "worker", "partner", "error", groups=(broken_group,), status_code=502
    )

    def expectation(spec, index) -> Expectation:
        if spec.key == specs[0].key:
            return Expectation("processed_or_dead_lettered", fault_reason(partner_down.id), "partner-down")
        return Expectation()

    planned = ctx.plan(
        plan_baseline(
            ctx.run_id,
            ctx.secrets,
            events=ctx.settings.events,
            groups=ctx.settings.groups,
            seed=ctx.seed,
            expectation=expectation,
            prefix="y",
        )
    )
    ctx.applied_log_on()
    _maybe_sabotage_writes(ctx, planned)
    ctx.faults_on(partner_down)
    ctx.send(planned, "traffic while a partner is down")
    ctx.settle("retries exhausted, dead letters in the DLQ")
    depth = ctx.observer.dlq_depth()
    ctx.check("the outage outlasted the retry budget", depth > 0, f"{depth} messages in the DLQ before the fix")
    return {}


def _estimate_outage(timings: StageTimings) -> float:
    return outage_window(timings) + timings.visibility_timeout_s + 3 * timings.worker_timeout_s + 15


DRILLS: dict[str, Drill] = {
    drill.name: drill
    for drill in (
        Drill(
            "schema-drift",
            "provider payload drift: unknown fields, renamed/removed/retyped fields, new topic, "
            "new API version; each case's declared outcome; fix = corrected payloads replayed",
            schema_drift,
            lambda t: 20 + 2 * t.propagation_s,
        ),
        Drill(
            "downstream-outage",
            "business writes throttled / failing and a partner answering 5xx or timing out "
            "for a window, then recovery through SQS retries",
            downstream_outage,
            _estimate_outage,
        ),
        Drill(
            "slow-downstream",
            "writes slower than the function timeout (before and after the write landed) for a "
            "window; timed-out batches are retried without writing twice",
            slow_downstream,
            _estimate_outage,
        ),
        Drill(
            "poison-message",
            "schema-invalid messages in every group go to the DLQ at once while their groups "
            "carry on; fix = corrected payloads replayed",
            poison_message,
            lambda t: 20 + 2 * t.propagation_s,
        ),
        Drill(
            "worker-crash",
            "the worker process exits (os._exit) in the middle of a batch after some records "
            "were written; the batch is redelivered and nothing is applied twice",
            worker_crash,
            lambda t: 25 + t.visibility_timeout_s + 2 * t.worker_timeout_s,
        ),
        Drill(
            "retry-storm",
            "every delivery re-sent inside the SQS dedup window, then re-injected with fresh dedup "
            "ids as provider retries hours later would be; each event applied once",
            retry_storm,
            lambda t: 25 + 2 * t.propagation_s,
        ),
        Drill(
            "replay",
            "a partner down longer than the retry budget: a group exhausts its receives and lands in "
            "the DLQ; fix = partner back, replay the DLQ",
            replay_drill,
            lambda t: t.retry_budget_s + 20,
        ),
        Drill(
            "enqueue-outage",
            "the producer's SendMessage fails for one group (must answer 5xx, never 202) and "
            "is slow for all; the rejected deliveries are retried by the provider afterwards",
            lambda ctx: enqueue_outage(ctx),
            lambda t: 20 + 3 * t.propagation_s,
        ),  # defined below
    )
}


# --- enqueue-outage (producer) ---------------------------------------------------------------------


def enqueue_outage(ctx: DrillContext) -> Fixes:
    specs = group_specs(ctx.run_id, ctx.settings.groups)
    failing_group = group_of(specs[0])
    added_ms = 250
    enqueue_down = ctx.fault("enqueue-down", "producer", "enqueue", "error", groups=(failing_group,))
    enqueue_slow = ctx.fault("enqueue-slow", "producer", "enqueue", "latency", latency_ms=added_ms)
    planned = ctx.plan(
        plan_baseline(
            ctx.run_id, ctx.secrets, events=ctx.settings.events, groups=ctx.settings.groups, seed=ctx.seed, prefix="q"
        )
    )
    ctx.applied_log_on()
    _maybe_sabotage_writes(ctx, planned)
    ctx.faults_on(enqueue_down, enqueue_slow)
    answers = ctx.send(planned, "traffic while SendMessage fails for one group")
    ctx.faults_off()
    failing = [a for a in answers if ctx.ledger.planned[a.key].group == failing_group]
    ctx.check(
        "enqueue failure answered 5xx, never 202",
        bool(failing) and all(500 <= a.status < 600 for a in failing),
        f"{len(failing)} deliveries to {failing_group}: answers {sorted({a.status for a in failing})}",
    )
    others = sorted(
        a.latency_ms for a in answers if ctx.ledger.planned[a.key].group != failing_group and a.status == 202
    )
    median = others[len(others) // 2] if others else 0.0
    ctx.check("producer latency was added", median >= added_ms, f"median ack {median:.0f} ms (+{added_ms} ms injected)")
    ctx.settle("accepted deliveries processed")
    rejected = ctx.ledger.unacked()
    leaked = [e.key for e in rejected if ctx.statuses([e])]
    ctx.check(
        "a rejected delivery left no trace",
        not leaked,
        f"{len(rejected)} rejected, {len(leaked)} with a status item {leaked[:5]}",
    )
    ctx.send(rejected, "provider retries after the outage")
    ctx.settle("retried deliveries processed")
    return {}
