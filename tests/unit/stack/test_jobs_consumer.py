"""Consumer machines of the partner jobs pattern: the order of report and delete, what is left for
redelivery, attachments, the sample job, the heartbeat's schedule and the loop's bounds (moto)."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import boto3
import pytest

from handlers.jobs.contract import AttachmentRef, JobMessage, JobResult, JobStatus, new_job_id
from stack.errors import UsageError
from stack.jobs_consumer.consumer import Consumer, ConsumerOptions
from stack.jobs_consumer.handler import HandlerNotFound, load_handler
from stack.jobs_consumer.runner import JobRunner, RunSettings
from stack.jobs_consumer.sample_job import insert_customer_records
from stack.jobs_consumer.stage import JobsStage, StageClients
from stack.jobs_consumer.stats import Outcome
from stack.jobs_consumer.visibility import Heartbeat, VisibilityPlan
from tests.helpers.fake_time import FakeTime
from tests.unit.stack.test_cli_errors import assert_one_line_error, hookstack

REGION = "us-east-1"
VISIBILITY_S = 30
BUCKET = "job-attachments"
TABLE = "customer-records"


class RecordingSqs:
    """The SQS client, with every call recorded in order and chosen calls refused."""

    def __init__(self, client):
        self.client = client
        self.calls: list[tuple[str, dict]] = []
        self.refuse = lambda name, kwargs: False

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(**kwargs):
            self.calls.append((name, kwargs))
            if self.refuse(name, kwargs):
                raise ConnectionError(f"{name} refused")
            return method(**kwargs)

        return call

    def reports(self) -> list[JobResult]:
        return [JobResult.model_validate_json(k["MessageBody"]) for name, k in self.calls if name == "send_message"]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls if name in ("send_message", "delete_message")]


@pytest.fixture
def stage(moto_aws):
    sqs = RecordingSqs(boto3.client("sqs", region_name=REGION))
    jobs = sqs.client.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": str(VISIBILITY_S)})["QueueUrl"]
    results = sqs.client.create_queue(QueueName="job-results")["QueueUrl"]
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    resources = {
        "JobsQueueUrl": jobs,
        "JobResultsQueueUrl": results,
        "JobAttachmentsBucket": BUCKET,
        "CustomerRecordsTable": TABLE,
    }
    clients = StageClients(lambda service: sqs if service == "sqs" else boto3.client(service, region_name=REGION))
    return JobsStage(jobs, results, resources, clients)


def job_message(**fields) -> JobMessage:
    values = {
        "job_id": new_job_id(),
        "tenant": "demo",
        "reference": "ref-1",
        "customer": "acme",
        "type": "customer-import",
        "data": {"records": [{"id": "c1", "name": "Ada"}, {"id": 2, "name": "Bob"}]},
        "submitted_at_ms": 1_700_000_000_000,
    }
    return JobMessage(**(values | fields))


def submit(stage: JobsStage, body: str | JobMessage) -> None:
    text = body.model_dump_json() if isinstance(body, JobMessage) else body
    stage.sqs.client.send_message(QueueUrl=stage.jobs_queue_url, MessageBody=text)


def run_next(stage: JobsStage, function, max_job_s: float = 900, clock=time.monotonic):
    answer = stage.sqs.client.receive_message(QueueUrl=stage.jobs_queue_url, MaxNumberOfMessages=1)
    runner = JobRunner(stage, function, RunSettings(VISIBILITY_S, max_job_s), clock=clock)
    return runner.run(answer["Messages"][0], clock(), "test-host:1:worker-1")


def messages_left(stage: JobsStage) -> int:
    attributes = stage.sqs.client.get_queue_attributes(
        QueueUrl=stage.jobs_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


# --- one job ---


def test_a_job_reports_running_then_succeeded_and_only_then_is_deleted(stage):
    message = job_message()
    submit(stage, message)
    seen = []
    outcome = run_next(stage, lambda job: seen.append(job) or {"ok": True, "customer": job.customer})
    assert outcome.outcome is Outcome.SUCCEEDED and outcome.deleted
    assert stage.sqs.names() == ["send_message", "send_message", "delete_message"]
    running, succeeded = stage.sqs.reports()
    assert (running.job_id, running.status, running.consumer) == (
        message.job_id,
        JobStatus.RUNNING,
        "test-host:1:worker-1",
    )
    assert succeeded.status is JobStatus.SUCCEEDED and succeeded.result == {"ok": True, "customer": "acme"}
    (job,) = seen
    assert (job.job_id, job.tenant, job.reference, job.type) == (message.job_id, "demo", "ref-1", "customer-import")
    assert job.resources["CustomerRecordsTable"] == TABLE and job.attachments == ()
    assert messages_left(stage) == 0


def test_a_raising_function_fails_the_job_with_its_class_and_message_and_deletes_it(stage):
    submit(stage, job_message())

    def broken(job):
        raise LookupError("customer acme is unknown " + "x" * 2000)

    outcome = run_next(stage, broken)
    assert outcome.outcome is Outcome.FAILED and outcome.deleted
    failed = stage.sqs.reports()[-1]
    assert failed.status is JobStatus.FAILED and failed.result is None
    assert failed.reason is not None and failed.reason.startswith("LookupError: customer acme is unknown x")
    assert len(failed.reason) == 1000
    assert stage.sqs.names()[-1] == "delete_message" and messages_left(stage) == 0


@pytest.mark.parametrize(
    ("returned", "expected"),
    [(["a", "list"], "not a dict"), ({"when": object()}, "not JSON-serialisable"), ({"x": float("nan")}, "JSON")],
)
def test_a_result_that_is_not_a_json_object_fails_the_job(stage, returned, expected):
    submit(stage, job_message())
    outcome = run_next(stage, lambda job: returned)
    assert outcome.outcome is Outcome.FAILED and outcome.deleted
    reason = stage.sqs.reports()[-1].reason
    assert reason is not None and reason.startswith("ResultUnusable: ") and expected in reason


def test_a_result_the_response_queue_refuses_leaves_the_job_message_for_redelivery(stage):
    submit(stage, job_message())
    stage.sqs.refuse = lambda name, kwargs: name == "send_message" and '"SUCCEEDED"' in kwargs["MessageBody"]
    outcome = run_next(stage, lambda job: {"done": 1})
    assert outcome.outcome is Outcome.LEFT and not outcome.deleted
    assert "delete_message" not in stage.sqs.names()
    assert messages_left(stage) == 1


def test_a_running_report_that_fails_leaves_the_job_unrun(stage):
    submit(stage, job_message())
    stage.sqs.refuse = lambda name, kwargs: name == "send_message"
    ran = []
    outcome = run_next(stage, lambda job: ran.append(job) or {})
    assert outcome.outcome is Outcome.LEFT and ran == []
    assert "delete_message" not in stage.sqs.names() and messages_left(stage) == 1


@pytest.mark.parametrize(
    "body",
    ["not json", json.dumps({"job_id": "job_1"}), job_message(job_id="not-a-job-id").model_dump_json()],
    ids=["text", "incomplete", "bad job id"],
)
def test_an_unreadable_body_is_left_undeleted_and_unreported(stage, body):
    submit(stage, body)
    outcome = run_next(stage, lambda job: pytest.fail("an unreadable message must not run"))
    assert outcome.outcome is Outcome.UNREADABLE and outcome.job_id is None and outcome.reason
    assert stage.sqs.names() == []
    assert messages_left(stage) == 1


# --- attachments ---


def attachment_in_s3(key: str, content: bytes, *, sha256: str | None = None, size: int | None = None) -> AttachmentRef:
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=content)
    return AttachmentRef(
        name=key.rsplit("/", 1)[-1],
        content_type="text/csv",
        bytes=len(content) if size is None else size,
        sha256=sha256 or hashlib.sha256(content).hexdigest(),
        bucket=BUCKET,
        key=key,
    )


def test_attachments_in_s3_and_inline_are_fetched_and_read(stage):
    large = b"id,name\n" + b"c1,Ada\n" * 5000
    small = b"hello"
    inline = AttachmentRef(
        name="note.txt",
        content_type="text/plain",
        bytes=len(small),
        sha256=hashlib.sha256(small).hexdigest(),
        inline_base64=base64.b64encode(small).decode(),
    )
    submit(stage, job_message(attachments=[attachment_in_s3("attachments/j/customers.csv", large), inline]))
    outcome = run_next(stage, lambda job: {a.name: len(a.read()) for a in job.attachments})
    assert outcome.outcome is Outcome.SUCCEEDED
    assert stage.sqs.reports()[-1].result == {"customers.csv": len(large), "note.txt": len(small)}


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ({"sha256": "0" * 64}, "does not match"),
        ({"size": 3}, "bytes, the job says 3"),
    ],
)
def test_an_attachment_whose_bytes_differ_fails_the_job_before_it_runs(stage, tamper, expected):
    ref = attachment_in_s3("attachments/j/customers.csv", b"id\nc1\n", **tamper)
    submit(stage, job_message(attachments=[ref]))
    outcome = run_next(stage, lambda job: pytest.fail("a corrupt attachment must not reach the function"))
    assert outcome.outcome is Outcome.FAILED and outcome.deleted
    reason = stage.sqs.reports()[-1].reason
    assert (
        reason is not None and reason.startswith("AttachmentCorrupt: attachment 'customers.csv'") and expected in reason
    )


def test_a_missing_attachment_object_fails_the_job(stage):
    ref = AttachmentRef(name="gone.csv", content_type="text/csv", bytes=1, sha256="0" * 64, bucket=BUCKET, key="gone")
    submit(stage, job_message(attachments=[ref]))
    outcome = run_next(stage, lambda job: {})
    assert outcome.outcome is Outcome.FAILED
    assert (
        stage.sqs.reports()[-1].reason == f"AttachmentMissing: attachment 'gone.csv': s3://{BUCKET}/gone does not exist"
    )


# --- the sample job ---


def customer_items() -> list[dict]:
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=TABLE)["Items"]
    return sorted(items, key=lambda item: item["id"]["S"])


def test_the_sample_job_inserts_each_record_once_however_often_it_runs(stage):
    message = job_message()
    runs = []
    for _ in range(2):  # the second: a redelivery after a crash between the report and the delete
        submit(stage, message)
        assert run_next(stage, insert_customer_records).outcome is Outcome.SUCCEEDED
        assert stage.sqs.reports()[-1].result == {"inserted": 2}
        runs.append(customer_items())
    first, second = runs
    assert [item["id"]["S"] for item in first] == ["acme#2", "acme#c1"]
    assert json.loads(first[1]["record"]["S"]) == {"id": "c1", "name": "Ada"}
    assert second == first


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"fail": "partner asked for a failure", "records": []}, "JobRejected: partner asked for a failure"),
        (
            {"records": [{"name": "no id"}]},
            "JobRejected: data.records[0]: expected an object with a string or integer id",
        ),
        (
            {"records": [], "work_seconds": "long"},
            "JobRejected: data.work_seconds: expected a number of seconds, 0 or more",
        ),
    ],
)
def test_the_sample_job_rejects_with_a_named_reason(stage, data, reason):
    submit(stage, job_message(data=data))
    assert run_next(stage, insert_customer_records).outcome is Outcome.FAILED
    assert stage.sqs.reports()[-1].reason == reason
    assert customer_items() == []


# --- the heartbeat ---


def test_visibility_is_extended_every_third_of_the_timeout_and_never_past_the_deadline():
    plan = VisibilityPlan.starting(received_at=0.0, timeout_s=30, max_job_s=75)
    assert plan.extension_due(9.9) is None
    assert plan.extension_due(10.0) == 30
    plan.extended(10.0, 30)
    assert plan.wake_at() == 20.0 and plan.extension_due(19.0) is None
    assert plan.extension_due(20.0) == 30
    plan.extended(20.0, 30)  # visible at 50
    assert plan.extension_due(50.0) == 25  # 75 - 50: the last extension ends at the deadline
    plan.extended(50.0, 25)
    assert plan.covered() and plan.extension_due(74.0) is None and plan.wake_at() == 75.0
    assert not plan.abandoned(74.9) and plan.abandoned(75.0)


class FakeVisibilitySqs:
    def __init__(self, refuse: int = 0):
        self.changes: list[int] = []
        self.refuse = refuse

    def change_message_visibility(self, QueueUrl, ReceiptHandle, VisibilityTimeout):
        if self.refuse:
            self.refuse -= 1
            raise ConnectionError("sqs unreachable")
        self.changes.append(VisibilityTimeout)


def test_the_heartbeat_extends_on_schedule_retries_a_failed_call_and_stops_at_the_deadline():
    clock = FakeTime()
    sqs = FakeVisibilitySqs(refuse=1)
    plan = VisibilityPlan.starting(clock.clock(), timeout_s=6, max_job_s=12)
    beat = Heartbeat(sqs, "queue", "receipt", plan, "job_x", clock.clock).beat
    moments = [0.0, 1.9, 2.0, 3.0, 4.0, 5.9, 6.0, 11.9]
    assert [beat(t) for t in moments] == [True] * len(moments)
    # 2.0 refused; retried at 4.0 (2 s later): visible to 10; at 6.0 the last one, 6 s up to the deadline
    assert sqs.changes == [6, 6]
    assert plan.covered()
    assert beat(12.0) is False


def test_a_job_past_its_deadline_is_abandoned_unreported_and_undeleted(stage):
    clock = FakeTime()
    submit(stage, job_message())

    def slow(job):
        clock.sleep(100)  # the job outlives --max-job-seconds
        return {"late": True}

    outcome = run_next(stage, slow, max_job_s=60, clock=clock.clock)
    assert outcome.outcome is Outcome.ABANDONED and not outcome.deleted
    assert [r.status for r in stage.sqs.reports()] == [JobStatus.RUNNING]
    assert "delete_message" not in stage.sqs.names() and messages_left(stage) == 1


# --- the loop ---


def test_max_jobs_bounds_the_loop_and_leaves_the_rest_queued(stage):
    for n in range(3):
        submit(stage, job_message(reference=f"ref-{n}"))
    consumer = Consumer(
        stage, lambda job: {"ref": job.reference}, ConsumerOptions(concurrency=2, max_jobs=2, idle_exit_s=5, wait_s=1)
    )
    stats = consumer.run()
    assert (stats.run, stats.succeeded, stats.failed) == (2, 2, 0)
    assert messages_left(stage) == 1
    assert stats.summary() == "2 job(s) run: 2 succeeded, 0 failed, 0 abandoned"


def test_idle_exit_ends_a_consumer_with_nothing_to_do(stage):
    stats = Consumer(stage, lambda job: {}, ConsumerOptions(concurrency=3, idle_exit_s=1, wait_s=1)).run()
    assert stats.as_dict()["run"] == 0
    assert any(name == "receive_message" for name, _ in stage.sqs.calls)


def test_unreadable_messages_do_not_count_as_jobs(stage):
    submit(stage, "garbage")
    submit(stage, job_message())
    stats = Consumer(stage, lambda job: {}, ConsumerOptions(max_jobs=1, idle_exit_s=2, wait_s=1)).run()
    assert (stats.run, stats.succeeded, stats.unreadable) == (1, 1, 1)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"concurrency": 0}, "--concurrency 0"),
        ({"concurrency": 33}, "expected 1 to 32"),
        ({"max_jobs": 0}, "--max-jobs 0"),
        ({"idle_exit_s": 0}, "--idle-exit 0"),
        ({"max_job_s": -1}, "--max-job-seconds -1"),
    ],
)
def test_options_out_of_range_are_usage_errors(options, fragment):
    with pytest.raises(UsageError, match=fragment):
        ConsumerOptions(**options)


# --- handler loading ---


def test_a_handler_is_imported_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "partner_jobs_here.py").write_text("def run(job):\n    return {'ran': job}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    assert load_handler("partner_jobs_here:run")("j") == {"ran": "j"}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("no_colon", "expected module:function"),
        ("no_such_module_here:run", "no module named 'no_such_module_here'"),
        ("stack.jobs_consumer.sample_job:nothing", "has no 'nothing'"),
        ("stack.jobs_consumer.sample_job:MAX_RECORDS", "is a int, not a function"),
    ],
)
def test_a_handler_that_cannot_be_loaded_is_one_usage_error(spec, fragment):
    with pytest.raises(HandlerNotFound, match=fragment) as raised:
        load_handler(spec)
    assert raised.value.exit_code == 2


def test_the_command_refuses_a_bad_handler_in_one_line(isolated_home):
    result = hookstack("consumer", "--handler", "no_such_module_here:run")
    assert result.returncode == 2
    assert_one_line_error(result, "no module named 'no_such_module_here'")


def test_a_consumer_process_reports_a_bad_handler_and_exits(isolated_home, tmp_path):
    from stack.jobs_consumer.process import start_consumer

    process = start_consumer(tmp_path / "consumer.log", handler="no_such_module_here:run", max_jobs=1, idle_exit_s=1)
    assert process.wait(60) == 2
    assert "error: --handler no_such_module_here:run: no module named" in process.output()
