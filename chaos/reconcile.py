"""The reconciler: does what the stage holds match what the drill sent and what its faults allow?

Pure logic over a ``Ledger`` (what was sent and answered) and an ``Observation`` (what the stage
holds). For every acknowledged event (a 202):

- PROCESSED exactly once in effect: status PROCESSED, and exactly one business item lists the
  event in ``applied_events`` (none: the write was lost; a status that claims success is not enough).
- or DEAD_LETTERED with a reason that matches what the drill injected (the expectation's
  patterns). A message in the DLQ whose status was never updated counts as dead-lettered, with a
  warning; if its own reason does not name the fault it is accepted only as collateral of an
  earlier event of its group that was dead-lettered for the fault (FIFO: the rest of a group is
  reported failed with its head and moves to the DLQ with it).
- never missing: acknowledged but neither processed nor dead-lettered, or DEAD_LETTERED while not
  in the DLQ (lost on the way), counts as missing.

No business record written twice: per item, ``writes`` − |``applied_events``|, and per event, its
entries in the applied log beyond the first; the larger of the two is reported.

Per-group order: the reference is the order in which each group's deliveries were acknowledged
(one sender per group, waiting for every answer, so it is the queue's order). The observed order
is the per-group applied log the worker keeps during drills (the order in which business writes
landed); where a group has no log, ``processed_at`` (ms) is used. Only first-generation
applications count: a replayed event is out of order by nature.

After the fix and replay every acknowledged event must be PROCESSED and the DLQ empty.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from chaos.observe import Observation
from chaos.traffic import Ledger, PlannedEvent
from handlers.errors import SKIPPED_BEHIND_FAILURE
from handlers.stores.status_store import Status

Phase = Literal["before_fix", "after_replay"]
MAX_LISTED = 25


@dataclass
class EventOutcome:
    key: str
    event_id: str
    group: str
    label: str
    status: str
    observed: str  # processed | dead_lettered | missing
    applications: int
    generation: int
    attempts: int = 0
    reason: str | None = None
    problem: str | None = None
    warning: str | None = None


@dataclass
class Reconciliation:
    phase: str
    sent: int = 0
    reinjected: int = 0
    acked: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    processed: int = 0
    dead_lettered: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    duplicates_applied: int = 0
    order_violations: int = 0
    order_unknown: int = 0
    missing: int = 0
    unexpected: int = 0
    stale_status: int = 0
    queue_depth: int = 0
    dlq_depth: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    events: list[EventOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.missing or self.unexpected or self.duplicates_applied or self.order_violations or self.problems
        )

    def as_dict(self, *, include_events: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        if not include_events:
            data.pop("events")
        return data

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(text)
        elif len(self.problems) == MAX_LISTED:
            self.problems.append("… (more problems not listed)")

    def warn(self, text: str) -> None:
        if len(self.warnings) < MAX_LISTED:
            self.warnings.append(text)


def reason_matches(patterns: tuple[str, ...], reason: str | None) -> bool:
    if not patterns:
        return True
    return reason is not None and any(re.search(p, reason, re.IGNORECASE | re.DOTALL) for p in patterns)


def short_reason(reason: str | None, limit: int = 100) -> str:
    text = " ".join((reason or "?").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _applications(observation: Observation, event_ids: set[str]) -> Counter:
    counts: Counter = Counter()
    for item in observation.projections:
        for event_id in item.applied_events & event_ids:
            counts[event_id] += 1
    return counts


def _duplicates(
    result: Reconciliation,
    observation: Observation,
    ids: set[str],
    groups: set[str],
    applications: Counter,
    keys: dict[str, str],
) -> None:
    item_level = 0
    for item in observation.projections:
        if item.applied_events & ids and item.duplicate_writes:
            item_level += item.duplicate_writes
            result.problem(
                f"duplicate write: {item.id} has {item.writes} writes for {len(item.applied_events)} distinct events"
            )
    log_counts = Counter(
        entry.event_id for group in groups for entry in observation.applied_log.get(group, ()) if entry.event_id in ids
    )
    log_level = sum(count - 1 for count in log_counts.values() if count > 1)
    for event_id, count in log_counts.items():
        if count > 1:
            result.problem(f"duplicate write: {keys.get(event_id, event_id)} applied {count} times (applied log)")
    multi_item = sum(count - 1 for count in applications.values() if count > 1)
    for event_id, count in applications.items():
        if count > 1:
            result.problem(f"duplicate write: {keys.get(event_id, event_id)} is applied in {count} business items")
    result.duplicates_applied = max(item_level, log_level, multi_item)


def _order(result: Reconciliation, observation: Observation, ledger: Ledger, outcomes: dict[str, EventOutcome]) -> None:
    acks = ledger.first_ack()
    by_group: dict[str, list[str]] = {}
    for event_id, outcome in outcomes.items():
        if outcome.observed == "processed" and outcome.generation == 0 and outcome.applications:
            by_group.setdefault(outcome.group, []).append(event_id)
    for group, candidates in sorted(by_group.items()):
        rank = {event_id: acks[event_id].seq for event_id in candidates}
        log = observation.applied_log.get(group)
        if log:
            seen: set[str] = set()
            observed = []
            for entry in log:
                if entry.generation == 0 and entry.event_id in rank and entry.event_id not in seen:
                    seen.add(entry.event_id)
                    observed.append(entry.event_id)
            unknown = [e for e in candidates if e not in seen]
            if unknown:
                result.order_unknown += len(unknown)
                result.warn(
                    f"group {group}: {len(unknown)} processed event(s) missing from the applied log "
                    "(order not checked for them)"
                )
        else:

            def processed_at(event_id: str) -> int:
                value = observation.statuses.get(event_id, {}).get("processed_at")
                return int(value) if value is not None else 0

            observed = sorted(candidates, key=lambda e: (processed_at(e), rank[e]))
            if len(candidates) > 1:
                result.warn(f"group {group}: no applied log; order checked on processed_at (ms)")
        highest: str | None = None
        for event_id in observed:
            if highest is not None and rank[event_id] < rank[highest]:
                result.order_violations += 1
                result.problem(
                    f"order: in {group}, {outcomes[event_id].key} (acknowledged earlier) was applied "
                    f"after {outcomes[highest].key}"
                )
            elif highest is None or rank[event_id] > rank[highest]:
                highest = event_id


def reconcile(ledger: Ledger, observation: Observation, phase: Phase) -> Reconciliation:
    result = Reconciliation(
        phase=phase,
        sent=len(ledger.answers),
        reinjected=len(ledger.reinjected),
        queue_depth=observation.queue_depth,
        dlq_depth=observation.dlq_depth,
    )
    rejected = Counter(str(a.status) for a in ledger.answers if a.status != 202)
    result.rejected = dict(sorted(rejected.items()))
    acks = ledger.first_ack()
    planned = ledger.by_event_id()
    ids = set(acks)
    result.acked = len(ids)
    keys = {event_id: planned[event_id].key for event_id in ids}
    applications = _applications(observation, ids)
    reasons: Counter = Counter()
    outcomes: dict[str, EventOutcome] = {}
    dead_by_group: dict[str, list[tuple[int, EventOutcome]]] = {}

    for event_id in sorted(ids, key=lambda e: acks[e].seq):
        event: PlannedEvent = planned[event_id]
        expectation = event.expectation
        item = observation.statuses.get(event_id) or {}
        status = str(item.get("status", "NONE"))
        letter = observation.dead_letters.get(event_id)
        outcome = EventOutcome(
            event.key,
            event_id,
            str(item.get("group") or event.group),
            expectation.label,
            status,
            "missing",
            applications.get(event_id, 0),
            int(item.get("replay_count", 0) or 0),
            int(item.get("attempts", 0) or 0),
        )
        outcomes[event_id] = outcome
        if status == Status.PROCESSED:
            outcome.observed = "processed"
            result.processed += 1
            if outcome.applications == 0:
                outcome.problem = "lost write: status PROCESSED, but no business item carries the event"
                result.missing += 1
            elif phase == "before_fix" and not expectation.allows_processed():
                outcome.problem = f"processed, but {expectation.label} must be dead-lettered"
                result.unexpected += 1
            if letter is not None:
                outcome.problem = "PROCESSED, yet a copy sits in the DLQ"
                result.unexpected += 1
        elif status == Status.DEAD_LETTERED or letter is not None:
            outcome.observed = "dead_lettered"
            result.dead_lettered += 1
            # Not DEAD_LETTERED: then the message sits in the DLQ and its letter tells the reason.
            outcome.reason = (
                str(item.get("reason")) if status == Status.DEAD_LETTERED or letter is None else letter.reason
            )
            reasons[short_reason(outcome.reason)] += 1
            if status != Status.DEAD_LETTERED:
                result.stale_status += 1
                outcome.warning = f"status says {status} while the message sits in the DLQ"
            if letter is None and observation.dlq_peek_complete:
                outcome.problem = "DEAD_LETTERED, but not in the DLQ: lost on the way"
                result.missing += 1
            elif phase == "after_replay":
                outcome.problem = "still dead-lettered after the fix and replay"
                result.unexpected += 1
            elif not expectation.allows_dead_letter():
                outcome.problem = f"dead-lettered ({short_reason(outcome.reason)}), expected processed"
                result.unexpected += 1
            elif not reason_matches(expectation.reasons, outcome.reason):
                head = next(
                    (
                        o
                        for _, o in dead_by_group.get(outcome.group, [])
                        if reason_matches(planned[o.event_id].expectation.reasons, o.reason)
                    ),
                    None,
                )
                stale = status != Status.DEAD_LETTERED
                if head is not None and (stale or SKIPPED_BEHIND_FAILURE in (outcome.reason or "")):
                    outcome.warning = f"moved to the DLQ with its group behind {head.key}" + (
                        " (status never updated)" if stale else ""
                    )
                else:
                    outcome.problem = (
                        f"dead-letter reason {short_reason(outcome.reason)!r} does not match {expectation.label}"
                    )
                    result.unexpected += 1
            dead_by_group.setdefault(outcome.group, []).append((acks[event_id].seq, outcome))
        else:
            outcome.problem = f"acknowledged, status {status}, not processed and not in the DLQ"
            result.missing += 1
        if outcome.problem:
            result.problem(f"{event.key} ({event_id}): {outcome.problem}")
        if outcome.warning:
            result.warn(f"{event.key}: {outcome.warning}")

    for event_id, event in planned.items():
        if event_id in ids:
            continue
        if observation.statuses.get(event_id) or applications.get(event_id):
            answers = ", ".join(str(a.status) for a in ledger.answers if a.key == event.key)
            result.warn(f"{event.key}: never acknowledged (answers {answers}) yet it reached the stage")

    result.dead_letter_reasons = dict(reasons.most_common())
    _duplicates(result, observation, ids, {o.group for o in outcomes.values()}, applications, keys)
    _order(result, observation, ledger, outcomes)
    if phase == "after_replay" and observation.dlq_depth:
        result.problem(f"DLQ still holds {observation.dlq_depth} message(s) after the fix and replay")
    result.events = list(outcomes.values())
    return result
