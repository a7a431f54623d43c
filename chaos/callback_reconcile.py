"""The callback reconciler: did every completed job's callback arrive once in effect?

Pure logic over what the drill submitted (``SubmittedJob``), the jobs table's items, and what the
tenant's endpoint (the partner simulator) recorded: every attempt (``CallbackRecord``: its
``webhook-id``, whether its signature verified, the status it was answered) and the dedup view
per ``webhook-id`` (``CallbackDelivery``: delivered once a verified attempt was answered 2xx).

A job's completion is the callback of its final status; its ``webhook-id`` is derived from the job
id and that status (``handlers.jobs.results.completion_event``), the same on every retry and replay.
For every accepted job:

- it reached a final status (the drill's jobs are valid: an unfinished one means the drill never
  got to its point);
- its completion was **delivered**: the partner's dedup view has its ``webhook-id`` delivered
  (verified, answered 2xx); none **missing**;
- **one webhook-id**: every callback about the job carries the completion's id (two ids for one
  completion would be two deliveries in effect at a receiver that deduplicates);
- the delivered body is the completion: ``job.completed`` with the job's final status;
- every attempt verified with the tenant's secret.

Then the callback queue and its DLQ are empty (nothing left to send), and the partner's log was not
truncated. Copies of one ``webhook-id`` answered 2xx more than once (a replayed copy of a callback
that was delivered) are counted, not failed: one delivery in effect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.jobs_reconcile import SubmittedJob
from handlers.jobs.contract import JobStatus
from handlers.notifications.contract import JOB_COMPLETED, notification_id
from stack.partner.records import CallbackDelivery, CallbackRecord, CallbackRecords

MAX_LISTED = 25


def completion_id(job_id: str, status: str) -> str:
    """The ``webhook-id`` of a job's completion callback (the results function's event id)."""
    return notification_id(JOB_COMPLETED, f"{job_id}.{status}")


def callback_job_id(record: CallbackRecord) -> str | None:
    """The job a callback is about (``data.id`` of its body), None for a body that names none."""
    try:
        document = json.loads(record.body)
    except ValueError:
        return None
    data = document.get("data") if isinstance(document, dict) else None
    job_id = data.get("id") if isinstance(data, dict) else None
    return job_id if isinstance(job_id, str) else None


@dataclass(frozen=True)
class CallbackObservation:
    tenant: str
    records: CallbackRecords  # the partner's callback records
    jobs: Mapping[str, Mapping[str, Any]]  # job id → the jobs table's item
    queue_messages: int  # the callback queue: visible + in flight + delayed, at the end
    dlq_messages: int  # the callback DLQ, at the end
    dead_lettered: frozenset[str] = frozenset()  # event ids seen in the callback DLQ before a replay
    replayed: int = 0  # callbacks the replay sent back (or, broken, claims to have)


@dataclass
class CompletionOutcome:
    key: str
    job_id: str
    status: str
    webhook_id: str | None  # the completion's id (None: the job is not final)
    attempts: int = 0  # every callback about the job
    failed_attempts: int = 0  # answered other than 2xx
    delivered: bool = False
    copies_delivered: int = 0  # verified 2xx answers of its webhook-id
    dead_lettered: bool = False
    problem: str | None = None


@dataclass
class CallbackReconciliation:
    submitted: int = 0
    accepted: int = 0
    completed: int = 0  # accepted jobs in a final status: each one completion to call back
    unfinished: int = 0
    delivered: int = 0
    missing: int = 0
    other_webhook_ids: int = 0  # completions whose callbacks carried another webhook-id too
    wrong_body: int = 0
    unverified_attempts: int = 0
    attempts: int = 0
    failed_attempts: int = 0
    dead_lettered: int = 0
    replayed: int = 0
    delivered_by_retry: int = 0  # delivered after failed attempts, never dead-lettered
    delivered_after_dead_letter: int = 0
    redelivered_copies: int = 0  # 2xx answers beyond the first for one webhook-id: harmless
    queue_messages: int = 0
    dlq_messages: int = 0
    problems: list[str] = field(default_factory=list)
    completions: list[CompletionOutcome] = field(default_factory=list)  # one per accepted job

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(text)
        elif len(self.problems) == MAX_LISTED:
            self.problems.append("… (more problems not listed)")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def _delivered_copies(attempts: Iterable[CallbackRecord], webhook_id: str) -> int:
    return sum(1 for a in attempts if a.webhook_id == webhook_id and a.verified and 200 <= a.status < 300)


def _delivered_body_problem(attempts: Sequence[CallbackRecord], webhook_id: str, status: str) -> str | None:
    delivering = next(
        (a for a in attempts if a.webhook_id == webhook_id and a.verified and 200 <= a.status < 300), None
    )
    if delivering is None:
        return None
    try:
        document = json.loads(delivering.body)
    except ValueError:
        return "the delivered callback's body is not JSON"
    said = (document.get("type"), (document.get("data") or {}).get("status"))
    if said != (JOB_COMPLETED, status):
        return f"the delivered callback says {said[0]} {said[1]}, the job is {status}"
    return None


def reconcile_callbacks(submitted: Sequence[SubmittedJob], observation: CallbackObservation) -> CallbackReconciliation:
    result = CallbackReconciliation(
        submitted=len(submitted),
        queue_messages=observation.queue_messages,
        dlq_messages=observation.dlq_messages,
        replayed=observation.replayed,
    )
    accepted = [job for job in submitted if job.accepted]
    result.accepted = len(accepted)
    if result.accepted < result.submitted:
        result.problem(f"{result.submitted - result.accepted} job(s) not accepted: no completion to call back")
    tenant_records = [r for r in observation.records.callbacks if r.tenant == observation.tenant]
    by_job: dict[str, list[CallbackRecord]] = {}
    for record in tenant_records:
        job_id = callback_job_id(record)
        if job_id is not None:
            by_job.setdefault(job_id, []).append(record)
    deliveries: dict[str, CallbackDelivery] = {
        d.webhook_id: d for d in observation.records.deliveries if d.tenant == observation.tenant
    }
    for job in accepted:
        job_id = str(job.job_id)
        status = str((observation.jobs.get(job_id) or {}).get("status", "NONE"))
        attempts = by_job.get(job_id, [])
        final = status in {s.value for s in JobStatus if s.final}
        outcome = CompletionOutcome(job.key, job_id, status, completion_id(job_id, status) if final else None)
        outcome.attempts = len(attempts)
        outcome.failed_attempts = sum(1 for a in attempts if not 200 <= a.status < 300)
        result.attempts += outcome.attempts
        result.failed_attempts += outcome.failed_attempts
        unverified = [a for a in attempts if not a.verified]
        result.unverified_attempts += len(unverified)
        if outcome.webhook_id is None:
            result.unfinished += 1
            outcome.problem = f"not final: status {status}" + (
                f", yet {len(attempts)} callback(s) about it" if attempts else ""
            )
        else:
            result.completed += 1
            webhook_id = outcome.webhook_id
            delivery = deliveries.get(webhook_id)
            outcome.delivered = delivery is not None and delivery.delivered
            outcome.copies_delivered = _delivered_copies(attempts, webhook_id)
            outcome.dead_lettered = webhook_id in observation.dead_lettered
            others = sorted({str(a.webhook_id) for a in attempts if a.webhook_id != webhook_id})
            result.dead_lettered += outcome.dead_lettered
            result.redelivered_copies += max(0, outcome.copies_delivered - 1)
            if others:
                result.other_webhook_ids += 1
                outcome.problem = f"{len(others) + 1} webhook-ids for one completion: {webhook_id}, {', '.join(others)}"
            if not outcome.delivered:
                result.missing += 1
                never = "never attempted" if not attempts else f"{len(attempts)} attempt(s), none delivered"
                outcome.problem = outcome.problem or f"{status}, its callback missing: {never}"
            else:
                result.delivered += 1
                if outcome.dead_lettered:
                    result.delivered_after_dead_letter += 1
                elif outcome.failed_attempts:
                    result.delivered_by_retry += 1
                body_problem = _delivered_body_problem(attempts, webhook_id, status)
                if body_problem:
                    result.wrong_body += 1
                    outcome.problem = outcome.problem or body_problem
        if unverified and outcome.problem is None:
            outcome.problem = f"{len(unverified)} attempt(s) did not verify: {unverified[0].reason}"
        if outcome.problem:
            result.problem(f"{job.key} ({job_id}): {outcome.problem}")
        result.completions.append(outcome)
    if observation.queue_messages:
        result.problem(f"{observation.queue_messages} callback(s) still in the callback queue")
    if observation.dlq_messages:
        result.problem(f"{observation.dlq_messages} callback(s) left in the callback DLQ")
    if observation.records.dropped:
        result.problem(f"the partner dropped {observation.records.dropped} callback record(s): the view is incomplete")
    return result
