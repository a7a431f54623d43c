"""The jobs reconciler: does what a jobs stage holds match the jobs a drill submitted?

Pure logic over what was submitted (``SubmittedJob``: the answer, the customer records the job
must insert) and what the stage holds (``JobsObservation``: the jobs table's items, the customer
records table's keys, the jobs queue and its DLQ). For every accepted job (a 202):

- SUCCEEDED exactly once in effect: status SUCCEEDED, the result counts its records, and every
  record it must insert is in the CustomerRecordsTable (keyed ``{customer}#{record id}``, so a
  re-run after a crash writes the same items again). A record of the drill's customers that no
  job asked for is an unexpected write.
- never FAILED: the drill's jobs are valid, and a crash is no reason to fail one.
- never lost: a job that is not final while nothing is left in the jobs queue or its DLQ to run
  it again is lost (its message was deleted without a result). A message carries no job id the
  reconciler can read without receiving it, so per stage: ``lost`` = not final − messages left
  (visible, in flight, in the DLQ), at least 0; the rest of the unfinished jobs are ``stuck``.
- a job in the DLQ (its receives exhausted) is a failure too: the drill's crashes are fewer than
  the queue's maxReceiveCount per job.

The drill's own check that its kills had an effect: jobs RUNNING on a consumer when it was killed
that ended SUCCEEDED by another consumer (``rerun_after_kill``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from handlers.jobs.contract import JobStatus

MAX_LISTED = 25


@dataclass(frozen=True)
class SubmittedJob:
    key: str  # the drill's name for the job (its reference)
    status: int  # the POST /jobs answer's status (0: the request failed)
    job_id: str | None  # from the 202
    customer: str
    record_ids: tuple[str, ...]

    @property
    def accepted(self) -> bool:
        return self.status == 202 and self.job_id is not None

    @property
    def record_keys(self) -> frozenset[str]:
        return frozenset(f"{self.customer}#{record_id}" for record_id in self.record_ids)


@dataclass(frozen=True)
class KilledRun:
    """A job RUNNING on a consumer (its pid) when the drill killed that consumer."""

    job_id: str
    pid: int


@dataclass(frozen=True)
class JobsObservation:
    jobs: dict[str, dict[str, Any]]  # job id → the jobs table's item (plain values)
    record_keys: frozenset[str]  # the CustomerRecordsTable's ids for the drill's customers
    queue_messages: int  # jobs queue: visible + in flight + delayed
    dlq_messages: int


@dataclass
class JobOutcome:
    key: str
    job_id: str
    status: str
    consumer: str | None
    records_expected: int
    records_found: int
    problem: str | None = None


@dataclass
class JobsReconciliation:
    submitted: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    succeeded: int = 0
    failed: int = 0
    unfinished: int = 0
    lost: int = 0
    stuck: int = 0
    dead_lettered: int = 0
    records_expected: int = 0
    records_found: int = 0
    records_missing: int = 0
    records_unexpected: int = 0
    killed_runs: int = 0
    rerun_after_kill: int = 0
    queue_messages: int = 0
    problems: list[str] = field(default_factory=list)
    jobs: list[JobOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.failed
            or self.unfinished
            or self.dead_lettered
            or self.records_missing
            or self.records_unexpected
            or self.problems
        )

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_LISTED:
            self.problems.append(text)
        elif len(self.problems) == MAX_LISTED:
            self.problems.append("… (more problems not listed)")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def consumer_pid(consumer: str | None) -> int | None:
    """The pid in a consumer id (``host:pid:thread``, :func:`stack.jobs_consumer.runner.consumer_id`)."""
    parts = (consumer or "").rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _inserted(item: dict[str, Any]) -> int | None:
    try:
        result = json.loads(str(item.get("result") or "null"))
    except ValueError:
        return None
    inserted = result.get("inserted") if isinstance(result, dict) else None
    return inserted if isinstance(inserted, int) else None


def reconcile_jobs(
    submitted: Sequence[SubmittedJob], observation: JobsObservation, kills: Sequence[KilledRun] = ()
) -> JobsReconciliation:
    result = JobsReconciliation(
        submitted=len(submitted), queue_messages=observation.queue_messages, dead_lettered=observation.dlq_messages
    )
    rejected: dict[str, int] = {}
    for job in submitted:
        if not job.accepted:
            rejected[str(job.status)] = rejected.get(str(job.status), 0) + 1
    result.rejected = dict(sorted(rejected.items()))
    accepted = [job for job in submitted if job.accepted]
    result.accepted = len(accepted)
    expected_keys: set[str] = set()
    for job in accepted:
        job_id = str(job.job_id)
        item = observation.jobs.get(job_id) or {}
        status = str(item.get("status", "NONE"))
        found = job.record_keys & observation.record_keys
        expected_keys |= job.record_keys
        outcome = JobOutcome(job.key, job_id, status, item.get("consumer"), len(job.record_keys), len(found))
        result.records_expected += len(job.record_keys)
        result.records_found += len(found)
        if status == JobStatus.SUCCEEDED:
            result.succeeded += 1
            missing = len(job.record_keys) - len(found)
            result.records_missing += missing
            inserted = _inserted(item)
            if missing:
                outcome.problem = f"SUCCEEDED, but {missing} of its {len(job.record_keys)} records are not in the table"
            elif inserted != len(job.record_ids):
                outcome.problem = f"SUCCEEDED with result inserted={inserted}, expected {len(job.record_ids)}"
        elif status == JobStatus.FAILED:
            result.failed += 1
            outcome.problem = f"FAILED: {item.get('reason') or '?'}"
        else:
            result.unfinished += 1
            outcome.problem = f"not finished: status {status}"
        if outcome.problem:
            result.problem(f"{job.key} ({job_id}): {outcome.problem}")
        result.jobs.append(outcome)
    left_to_run = observation.queue_messages + observation.dlq_messages
    result.lost = max(0, result.unfinished - left_to_run)
    result.stuck = result.unfinished - result.lost
    if result.lost:
        result.problem(
            f"{result.lost} accepted job(s) lost: not finished, and no message left to run them "
            f"({observation.queue_messages} in the jobs queue, {observation.dlq_messages} in its DLQ)"
        )
    if result.stuck:
        result.problem(f"{result.stuck} accepted job(s) stuck: not finished while their messages are still queued")
    if observation.dlq_messages:
        result.problem(f"{observation.dlq_messages} job message(s) in the jobs DLQ: receives exhausted")
    drill_customers = {job.customer for job in submitted}
    unexpected = sorted(
        key for key in observation.record_keys - expected_keys if key.split("#", 1)[0] in drill_customers
    )
    result.records_unexpected = len(unexpected)
    if unexpected:
        result.problem(f"{len(unexpected)} customer record(s) no job asked for: {', '.join(unexpected[:5])}")
    result.killed_runs = len(kills)
    for kill in kills:
        item = observation.jobs.get(kill.job_id) or {}
        finisher = consumer_pid(item.get("consumer"))
        if item.get("status") == JobStatus.SUCCEEDED and finisher is not None and finisher != kill.pid:
            result.rerun_after_kill += 1
    return result
