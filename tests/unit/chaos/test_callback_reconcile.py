"""The callback reconciler's verdicts on hand-made partner records: what the callback-outage drill
calls PASS — every completed job's callback delivered once in effect, under one webhook-id."""

from __future__ import annotations

import itertools
import json

import pytest

from chaos.callback_reconcile import CallbackObservation, callback_job_id, completion_id, reconcile_callbacks
from chaos.jobs_reconcile import SubmittedJob
from handlers.jobs.results import completion_event
from stack.partner.records import CallbackRecord, CallbackRecords, callback_deliveries

TENANT = "demo"
_seq = itertools.count(1)


def _job(n: int, status: int = 202) -> SubmittedJob:
    return SubmittedJob(f"k{n}", status, f"job_{n:032x}" if status == 202 else None, "cust", (f"{n}a",))


def _item(job: SubmittedJob, status: str = "SUCCEEDED") -> dict:
    return {"id": job.job_id, "status": status}


def _attempt(
    job: SubmittedJob,
    answer: int,
    *,
    status: str = "SUCCEEDED",
    webhook_id: str | None = None,
    verified: bool = True,
    tenant: str = TENANT,
) -> CallbackRecord:
    job_id = str(job.job_id)
    body = json.dumps(
        {"type": "job.completed", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"id": job_id, "status": status}}
    )
    seq = next(_seq)
    return CallbackRecord(
        seq=seq,
        at_ns=seq * 1000,
        received_at=seq,
        tenant=tenant,
        webhook_id=webhook_id or completion_id(job_id, status),
        webhook_timestamp="1767225600",
        webhook_signature="v1,c2lnbmF0dXJl",
        verified=verified,
        reason=None if verified else "no matching signature",
        status=answer,
        body=body,
    )


def _observe(
    jobs: dict[str, dict],
    attempts: list[CallbackRecord],
    *,
    queue: int = 0,
    dlq: int = 0,
    dead: frozenset[str] = frozenset(),
    replayed: int = 0,
    dropped: int = 0,
) -> CallbackObservation:
    records = CallbackRecords(callbacks=attempts, deliveries=callback_deliveries(attempts), dropped=dropped)
    return CallbackObservation(TENANT, records, jobs, queue, dlq, dead, replayed)


def test_the_event_id_is_the_one_the_results_function_publishes():
    job = {"id": "job_" + "ab" * 16, "status": "FAILED", "updated_at": 1767225600000, "reason": "closed"}
    event_id, notification = completion_event(job)
    assert completion_id(job["id"], "FAILED") == event_id
    record = _attempt(_job(1), 200)
    assert callback_job_id(record.model_copy(update={"body": notification.body()})) == job["id"]
    assert callback_job_id(record.model_copy(update={"body": "not json"})) is None


def test_callbacks_retried_and_replayed_after_an_outage_are_each_delivered_once():
    a, b = _job(1), _job(2)
    attempts = [
        *(_attempt(a, 503) for _ in range(3)),  # exhausted its attempts: dead-lettered, then replayed
        _attempt(b, 503),
        _attempt(b, 200),  # delivered by a retry
        _attempt(a, 200),
    ]
    dead = frozenset({completion_id(str(a.job_id), "SUCCEEDED")})
    result = reconcile_callbacks(
        [a, b], _observe({a.job_id: _item(a), b.job_id: _item(b)}, attempts, dead=dead, replayed=1)
    )
    assert result.ok, result.problems
    assert (result.accepted, result.completed, result.delivered, result.missing) == (2, 2, 2, 0)
    assert (result.attempts, result.failed_attempts, result.dead_lettered, result.replayed) == (6, 4, 1, 1)
    assert (result.delivered_by_retry, result.delivered_after_dead_letter) == (1, 1)


def test_a_dead_lettered_callback_never_sent_again_is_missing():
    a, b = _job(1), _job(2)
    attempts = [*(_attempt(a, 503) for _ in range(3)), _attempt(b, 200)]
    dead = frozenset({completion_id(str(a.job_id), "SUCCEEDED")})
    result = reconcile_callbacks(
        [a, b], _observe({a.job_id: _item(a), b.job_id: _item(b)}, attempts, dead=dead, replayed=1)
    )
    assert not result.ok
    assert (result.delivered, result.missing, result.dead_lettered) == (1, 1, 1)
    assert any("k1" in p and "missing: 3 attempt(s), none delivered" in p for p in result.problems), result.problems


def test_a_completion_never_called_back_is_missing():
    a = _job(1)
    result = reconcile_callbacks([a], _observe({a.job_id: _item(a, "FAILED")}, []))
    assert not result.ok and result.missing == 1
    assert "FAILED, its callback missing: never attempted" in result.problems[0]


def test_two_webhook_ids_for_one_completion_fail_even_when_both_were_delivered():
    a = _job(1)
    attempts = [_attempt(a, 200), _attempt(a, 200, webhook_id="msg_" + "0" * 32)]
    result = reconcile_callbacks([a], _observe({a.job_id: _item(a)}, attempts))
    assert not result.ok
    assert result.other_webhook_ids == 1 and result.delivered == 1
    assert "2 webhook-ids for one completion" in result.problems[0]


def test_a_copy_of_a_delivered_callback_is_one_delivery_in_effect():
    a = _job(1)
    attempts = [_attempt(a, 200), _attempt(a, 200)]  # a replayed copy of one that had arrived
    result = reconcile_callbacks([a], _observe({a.job_id: _item(a)}, attempts))
    assert result.ok, result.problems
    assert (result.delivered, result.redelivered_copies, result.other_webhook_ids) == (1, 1, 0)


def test_a_2xx_answer_to_a_callback_that_did_not_verify_is_not_a_delivery():
    a = _job(1)
    result = reconcile_callbacks([a], _observe({a.job_id: _item(a)}, [_attempt(a, 200, verified=False)]))
    assert not result.ok
    assert (result.delivered, result.missing, result.unverified_attempts) == (0, 1, 1)


def test_a_delivered_callback_must_say_the_jobs_final_status():
    a = _job(1)
    # The job FAILED; a callback carrying the FAILED completion's id but a SUCCEEDED body.
    wrong = _attempt(a, 200, status="SUCCEEDED", webhook_id=completion_id(str(a.job_id), "FAILED"))
    result = reconcile_callbacks([a], _observe({a.job_id: _item(a, "FAILED")}, [wrong]))
    assert not result.ok and result.wrong_body == 1
    assert "says job.completed SUCCEEDED, the job is FAILED" in result.problems[0]


def test_another_tenants_delivery_does_not_count():
    a = _job(1)
    result = reconcile_callbacks([a], _observe({a.job_id: _item(a)}, [_attempt(a, 200, tenant="other")]))
    assert not result.ok and result.missing == 1


def test_an_unfinished_or_unaccepted_job_fails_the_drill():
    a, b, rejected = _job(1), _job(2), _job(3, status=503)
    result = reconcile_callbacks(
        [a, b, rejected], _observe({a.job_id: _item(a), b.job_id: _item(b, "RUNNING")}, [_attempt(a, 200)])
    )
    assert not result.ok
    assert (result.submitted, result.accepted, result.completed, result.unfinished) == (3, 2, 1, 1)
    assert any("not accepted" in p for p in result.problems)
    assert any("not final: status RUNNING" in p for p in result.problems)


@pytest.mark.parametrize(
    "left, expected",
    [
        ({"queue": 2}, "2 callback(s) still in the callback queue"),
        ({"dlq": 1}, "1 callback(s) left in the callback DLQ"),
        ({"dropped": 5}, "the partner dropped 5 callback record(s)"),
    ],
)
def test_anything_left_to_send_or_a_truncated_view_fails(left, expected):
    a = _job(1)
    result = reconcile_callbacks([a], _observe({a.job_id: _item(a)}, [_attempt(a, 200)], **left))
    assert not result.ok
    assert any(expected in p for p in result.problems), result.problems
