"""The jobs reconciler's verdicts on hand-made records: what the consumer-crash drill calls PASS."""

from __future__ import annotations

import json

from chaos.consumer_crash import plan_jobs
from chaos.jobs_reconcile import (
    JobsObservation,
    KilledRun,
    SubmittedJob,
    consumer_pid,
    reconcile_jobs,
)

CUSTOMER = "crash-abc"


def _job(n: int, status: int = 202) -> SubmittedJob:
    return SubmittedJob(f"k{n}", status, f"job_{n:032x}" if status == 202 else None, CUSTOMER, (f"{n}a", f"{n}b"))


def _succeeded(job: SubmittedJob, pid: int = 11) -> dict:
    return {"status": "SUCCEEDED", "result": json.dumps({"inserted": 2}), "consumer": f"host:{pid}:worker-1"}


def _observation(jobs: dict, records: set[str], queue: int = 0, dlq: int = 0) -> JobsObservation:
    return JobsObservation(jobs=jobs, record_keys=frozenset(records), queue_messages=queue, dlq_messages=dlq)


def _all_records(*jobs: SubmittedJob) -> set[str]:
    return {key for job in jobs for key in job.record_keys}


def test_every_job_succeeded_with_its_records_is_ok_and_counts_reruns_after_a_kill():
    a, b = _job(1), _job(2)
    observed = _observation({a.job_id: _succeeded(a, pid=22), b.job_id: _succeeded(b)}, _all_records(a, b))
    result = reconcile_jobs([a, b], observed, [KilledRun(str(a.job_id), 11)])
    assert result.ok, result.problems
    assert (result.accepted, result.succeeded, result.records_found, result.records_expected) == (2, 2, 4, 4)
    assert (result.killed_runs, result.rerun_after_kill) == (1, 1)


def test_a_kill_whose_job_ended_on_the_same_consumer_is_no_rerun():
    a = _job(1)
    result = reconcile_jobs(
        [a], _observation({a.job_id: _succeeded(a, pid=11)}, _all_records(a)), [KilledRun(str(a.job_id), 11)]
    )
    assert result.ok and result.rerun_after_kill == 0


def test_an_unfinished_job_with_nothing_queued_is_lost():
    a, b = _job(1), _job(2)
    running = {"status": "RUNNING", "consumer": "host:11:worker-1"}
    result = reconcile_jobs([a, b], _observation({a.job_id: _succeeded(a), b.job_id: running}, _all_records(a)))
    assert not result.ok
    assert (result.unfinished, result.lost, result.stuck) == (1, 1, 0)
    assert any("lost" in problem for problem in result.problems)


def test_an_unfinished_job_whose_message_is_still_queued_is_stuck_not_lost():
    a = _job(1)
    result = reconcile_jobs([a], _observation({a.job_id: {"status": "SUBMITTED"}}, set(), queue=1))
    assert not result.ok and (result.lost, result.stuck) == (0, 1)


def test_a_succeeded_job_missing_a_record_or_a_record_no_job_asked_for_fails():
    a = _job(1)
    missing = reconcile_jobs([a], _observation({a.job_id: _succeeded(a)}, {f"{CUSTOMER}#1a"}))
    assert not missing.ok and missing.records_missing == 1
    extra = reconcile_jobs([a], _observation({a.job_id: _succeeded(a)}, _all_records(a) | {f"{CUSTOMER}#zz"}))
    assert not extra.ok and extra.records_unexpected == 1


def test_failed_and_dead_lettered_jobs_fail_and_rejections_are_counted_not_reconciled():
    a, b, refused = _job(1), _job(2), _job(3, status=503)
    failed = {"status": "FAILED", "reason": "JobRejected: no"}
    result = reconcile_jobs(
        [a, b, refused], _observation({a.job_id: failed, b.job_id: {"status": "RUNNING"}}, set(), dlq=1)
    )
    assert not result.ok
    assert (result.submitted, result.accepted, result.rejected) == (3, 2, {"503": 1})
    assert (result.failed, result.dead_lettered, result.lost, result.stuck) == (1, 1, 0, 1)


def test_consumer_pid_reads_the_consumer_id():
    assert consumer_pid("my-host:4242:worker-2") == 4242
    assert consumer_pid(None) is None and consumer_pid("garbage") is None


def test_planned_jobs_carry_distinct_references_and_records_of_one_customer():
    planned = plan_jobs("abc123", 5, work_seconds=2)
    assert len({job.key for job in planned}) == 5 and len({job.customer for job in planned}) == 1
    document = json.loads(planned[0].body)
    assert document["data"]["work_seconds"] == 2 and len(document["data"]["records"]) == len(planned[0].record_ids)
