"""The jobs pattern's functions against moto: intake, query and results."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from jsonschema import Draft4Validator
from pydantic import ValidationError

from handlers.contract.settings import JobsIntakeSettings
from handlers.jobs import intake, query, results
from handlers.jobs.contract import JOB_SUBMISSION_SCHEMA, JobMessage, JobResult, JobStatus, JobSubmission
from handlers.jobs.store import JobStore, reference_key
from tests.helpers.moto_aws import create_id_table, moto_account

REGION = "us-east-1"


@pytest.fixture
def jobs_aws(monkeypatch):
    with moto_account(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_id_table(dynamodb, "jobs")
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="attachments")
        yield type("Aws", (), {"dynamodb": dynamodb, "sqs": sqs, "s3": s3, "queue_url": queue_url})


def _intake(aws, claim_check_bytes: int = 200 * 1024, sqs=None) -> intake.JobIntake:
    settings = JobsIntakeSettings(
        jobs_table="jobs",
        jobs_queue_url=aws.queue_url,
        attachments_bucket="attachments",
        max_body_bytes=4 * 1024 * 1024,
        claim_check_bytes=claim_check_bytes,
    )
    return intake.JobIntake(settings, JobStore(aws.dynamodb, "jobs"), sqs or aws.sqs, aws.s3)


def _event(body: dict | str, tenant: str = "acme") -> dict:
    return {
        "body": body if isinstance(body, str) else json.dumps(body),
        "headers": {"Host": "127.0.0.1:8080", "X-Forwarded-Proto": "http", "Content-Type": "application/json"},
        "requestContext": {"path": "/dev/jobs", "authorizer": {"tenant": tenant}},
    }


def _job(reference: str = "r-1", **extra) -> dict:
    return {"reference": reference, "customer": "c1", "type": "import", "data": {"records": [{"id": "1"}]}, **extra}


def _queued(aws) -> list[JobMessage]:
    messages = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [JobMessage.model_validate_json(m["Body"]) for m in messages]


def _items(aws) -> list[dict]:
    return aws.dynamodb.scan(TableName="jobs")["Items"]


def _answer(response: dict) -> tuple[int, dict]:
    return response["statusCode"], json.loads(response["body"])


def test_a_job_is_recorded_queued_and_answered_202_with_where_to_poll(jobs_aws):
    status, body = _answer(intake.handle(_intake(jobs_aws), _event(_job())))
    assert status == 202 and body["status"] == "SUBMITTED"
    assert body["status_url"] == f"http://127.0.0.1:8080/dev/jobs/{body['id']}"
    [message] = _queued(jobs_aws)
    assert message.job_id == body["id"] and message.tenant == "acme" and message.data == {"records": [{"id": "1"}]}
    job = JobStore(jobs_aws.dynamodb, "jobs").get(body["id"])
    assert job is not None and job["status"] == "SUBMITTED" and job["reference"] == "r-1"


def test_a_reference_used_twice_by_a_tenant_is_409_naming_the_first_job(jobs_aws):
    first = _answer(intake.handle(_intake(jobs_aws), _event(_job())))[1]
    status, body = _answer(intake.handle(_intake(jobs_aws), _event(_job())))
    assert status == 409 and body["id"] == first["id"] and "r-1" in body["message"]
    assert len(_queued(jobs_aws)) == 1 and len(_items(jobs_aws)) == 2  # one job, one claim
    other_tenant = _answer(intake.handle(_intake(jobs_aws), _event(_job(), tenant="globex")))
    assert other_tenant[0] == 202


def test_small_attachments_travel_inline_and_large_ones_through_s3(jobs_aws):
    small = base64.b64encode(b"x" * 100).decode()
    status, _ = _answer(
        intake.handle(_intake(jobs_aws), _event(_job(attachments=[{"name": "a.txt", "content_base64": small}])))
    )
    assert status == 202
    [inline] = _queued(jobs_aws)
    assert inline.attachments[0].inline_base64 == small and inline.attachments[0].key is None
    large = base64.b64encode(b"y" * 3000).decode()
    job = _job("r-2", attachments=[{"name": "big.bin", "content_base64": large}])
    status, body = _answer(intake.handle(_intake(jobs_aws, claim_check_bytes=2048), _event(job)))
    assert status == 202
    messages = [m for m in _queued(jobs_aws) if m.job_id == body["id"]]
    ref = messages[0].attachments[0]
    assert ref.inline_base64 is None and ref.bytes == 3000
    stored = jobs_aws.s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()
    assert stored == b"y" * 3000


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ("{", 400, "body"),
        (json.dumps({"reference": "r"}), 400, "invalid job"),
        (json.dumps(_job(attachments=[{"name": "a", "content_base64": "not base64!"}])), 400, "not valid base64"),
        (
            json.dumps(_job(attachments=[{"name": "a", "content_base64": ""}, {"name": "a", "content_base64": ""}])),
            400,
            "given twice",
        ),
    ],
)
def test_bad_jobs_are_refused_with_a_reason_and_nothing_written(jobs_aws, body, status, reason):
    answer, payload = _answer(intake.handle(_intake(jobs_aws), _event(body)))
    assert answer == status and reason in payload["message"]
    assert _items(jobs_aws) == [] and _queued(jobs_aws) == []


def test_no_tenant_is_403(jobs_aws):
    assert intake.handle(_intake(jobs_aws), _event(_job(), tenant=""))["statusCode"] == 403


class FailingQueue:
    def send_message(self, **_):
        raise ConnectionError("queue down")


def test_a_job_that_cannot_be_queued_is_taken_back_and_answered_503(jobs_aws):
    status, body = _answer(intake.handle(_intake(jobs_aws, sqs=FailingQueue()), _event(_job())))
    assert status == 503 and "jobs queue unavailable" in body["message"]
    assert _items(jobs_aws) == []  # neither the job nor its reference claim is left
    assert _answer(intake.handle(_intake(jobs_aws), _event(_job())))[0] == 202  # the reference is free again


def _submitted(aws, tenant: str = "acme") -> str:
    return _answer(intake.handle(_intake(aws), _event(_job(), tenant=tenant)))[1]["id"]


def _query(aws, job_id: str, tenant: str = "acme") -> tuple[int, dict]:
    event = {"pathParameters": {"id": job_id}, "requestContext": {"authorizer": {"tenant": tenant}}}
    return _answer(query.handle(JobStore(aws.dynamodb, "jobs"), event))


def test_query_shows_the_tenant_its_job_and_nobody_else(jobs_aws):
    job_id = _submitted(jobs_aws)
    status, body = _query(jobs_aws, job_id)
    assert status == 200 and body["status"] == "SUBMITTED" and body["reference"] == "r-1"
    assert _query(jobs_aws, job_id, tenant="globex") == (404, {"message": "job not found"})
    assert _query(jobs_aws, "job_" + "0" * 32) == (404, {"message": "job not found"})
    assert _query(jobs_aws, "not-an-id") == (404, {"message": "job not found"})
    claim_id = reference_key("acme", "r-1")
    assert _query(jobs_aws, claim_id)[0] == 404  # claims share the table but are never jobs


def _results_event(*bodies: str) -> dict:
    return {
        "Records": [
            {"messageId": f"m{i}", "body": body, "receiptHandle": f"h{i}", "eventSource": "aws:sqs", "attributes": {}}
            for i, body in enumerate(bodies)
        ]
    }


def _result(job_id: str, status: str, **extra) -> str:
    return JobResult(job_id=job_id, status=JobStatus(status), at_ms=1, **extra).model_dump_json()


def test_results_move_a_job_forward_once_and_never_back(jobs_aws):
    job_id = _submitted(jobs_aws)
    worker = results.JobResults(JobStore(jobs_aws.dynamodb, "jobs"))
    response = worker.handle(
        _results_event(
            _result(job_id, "RUNNING"),
            _result(job_id, "SUCCEEDED", result={"inserted": 1}),
            _result(job_id, "RUNNING"),  # late
            _result(job_id, "FAILED", reason="KeyError: 'x'"),  # a redelivered job's second run
        ),
        None,
    )
    assert response["batchItemFailures"] == []
    status, body = _query(jobs_aws, job_id)
    assert body["status"] == "SUCCEEDED" and body["result"] == {"inserted": 1} and body["reason"] is None


def test_a_failed_job_keeps_its_reason(jobs_aws):
    job_id = _submitted(jobs_aws)
    results.JobResults(JobStore(jobs_aws.dynamodb, "jobs")).handle(
        _results_event(_result(job_id, "FAILED", reason="JobRejected: customer c1 is closed")), None
    )
    assert _query(jobs_aws, job_id)[1]["reason"] == "JobRejected: customer c1 is closed"


def test_a_report_that_is_not_a_job_result_fails_its_record_only(jobs_aws):
    job_id = _submitted(jobs_aws)
    response = results.JobResults(JobStore(jobs_aws.dynamodb, "jobs")).handle(
        _results_event("not json", _result(job_id, "RUNNING")), None
    )
    assert response["batchItemFailures"] == [{"itemIdentifier": "m0"}]
    assert _query(jobs_aws, job_id)[1]["status"] == "RUNNING"


def test_a_consumer_cannot_report_submitted():
    with pytest.raises(ValidationError, match="RUNNING, SUCCEEDED or FAILED"):
        JobResult(job_id="job_" + "0" * 32, status=JobStatus.SUBMITTED, at_ms=1)


@pytest.mark.parametrize(
    "document",
    [
        _job(),
        _job(attachments=[{"name": "a.txt", "content_base64": "", "content_type": "text/plain"}]),
        {"reference": "r"},
        _job(extra=1),
        _job(reference=""),
        _job(reference="x" * 129),
        _job(type="Upper"),
        _job(data=[]),
        _job(attachments=[{"name": "a b", "content_base64": ""}]),
        _job(attachments=[{"name": "a", "content_base64": "", "content_type": ""}]),
        _job(attachments=[{"name": f"a{i}", "content_base64": ""} for i in range(11)]),
    ],
)
def test_the_gateway_model_and_the_intake_dto_accept_the_same_documents(document):
    schema_accepts = Draft4Validator(JOB_SUBMISSION_SCHEMA).is_valid(document)
    try:
        JobSubmission.model_validate(document)
        dto_accepts = True
    except ValidationError:
        dto_accepts = False
    assert schema_accepts == dto_accepts


# --- completions published for the notifications pattern ---


class _RecordingPublisher:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.published: list[tuple[str, str, dict]] = []

    def publish(self, tenant: str, event_id: str, notification) -> None:
        if self.fail:
            raise RuntimeError("sns unavailable")
        self.published.append((tenant, event_id, json.loads(notification.body())))


def _with_completions(aws, publisher) -> results.JobResults:
    return results.JobResults(JobStore(aws.dynamodb, "jobs"), publisher)


def test_a_final_result_publishes_the_job_completed_event_once_per_record(jobs_aws):
    job_id = _submitted(jobs_aws)
    publisher = _RecordingPublisher()
    response = _with_completions(jobs_aws, publisher).handle(
        _results_event(_result(job_id, "RUNNING"), _result(job_id, "SUCCEEDED", result={"inserted": 2})), None
    )
    assert response["batchItemFailures"] == []
    ((tenant, event_id, event),) = publisher.published  # RUNNING publishes nothing
    assert tenant == "acme" and event["type"] == "job.completed" and event["timestamp"].endswith("Z")
    assert event["data"] == {
        "id": job_id,
        "reference": "r-1",
        "customer": "c1",
        "type": "import",
        "status": "SUCCEEDED",
        "result": {"inserted": 2},
        "reason": None,
    }
    assert event_id.startswith("msg_")


def test_a_repeated_final_result_publishes_again_with_the_same_event_id_and_body(jobs_aws):
    job_id = _submitted(jobs_aws)
    publisher = _RecordingPublisher()
    worker = _with_completions(jobs_aws, publisher)
    worker.handle(_results_event(_result(job_id, "FAILED", reason="JobRejected: closed")), None)
    # The redelivered record, and a second run's other final status: the stored job is what is told.
    worker.handle(_results_event(_result(job_id, "FAILED", reason="JobRejected: closed")), None)
    worker.handle(_results_event(_result(job_id, "SUCCEEDED", result={"inserted": 1})), None)
    first, *repeats = publisher.published
    assert len(repeats) == 2 and all(repeat == first for repeat in repeats)
    assert first[2]["data"]["status"] == "FAILED" and first[2]["data"]["reason"] == "JobRejected: closed"


def test_a_failed_publish_fails_the_record_and_its_retry_publishes(jobs_aws):
    job_id = _submitted(jobs_aws)
    other = _answer(intake.handle(_intake(jobs_aws), _event(_job("r-2"))))[1]["id"]
    failing = _with_completions(jobs_aws, _RecordingPublisher(fail=True))
    response = failing.handle(
        _results_event(_result(job_id, "SUCCEEDED", result={"inserted": 1}), _result(other, "RUNNING")), None
    )
    assert response["batchItemFailures"] == [{"itemIdentifier": "m0"}]  # the other record is done
    assert _query(jobs_aws, job_id)[1]["status"] == "SUCCEEDED"  # applied all the same
    publisher = _RecordingPublisher()
    retried = _with_completions(jobs_aws, publisher).handle(
        _results_event(_result(job_id, "SUCCEEDED", result={"inserted": 1})), None
    )
    assert retried["batchItemFailures"] == [] and len(publisher.published) == 1


def test_without_a_completions_topic_nothing_is_published(jobs_aws, monkeypatch):
    monkeypatch.setenv("JOBS_TABLE", "jobs")
    monkeypatch.delenv("COMPLETIONS_TOPIC_ARN", raising=False)
    results._results.cache_clear()
    try:
        assert results._results()._completions is None
    finally:
        results._results.cache_clear()


def test_a_result_for_a_job_that_does_not_exist_publishes_nothing(jobs_aws):
    publisher = _RecordingPublisher()
    response = _with_completions(jobs_aws, publisher).handle(
        _results_event(_result("job_" + "0" * 32, "SUCCEEDED")), None
    )
    assert response["batchItemFailures"] == [] and publisher.published == []
