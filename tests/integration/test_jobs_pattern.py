"""The jobs pattern end to end on the embedded target: the gateway's schema check, the intake,
a consumer machine (``hookstack consumer`` as a separate process), the results function and
polling — through the deployed API, as a partner uses it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.clients.webhook_client import ApiClient
from stack.config import load_config
from stack.definition.app import hookstack_stack
from stack.definition.openapi import documented_statuses
from stack.deploy.outputs import StackOutputs, tenant_token
from tests.fuzz.strategies import json_texts, json_values
from tests.helpers.private_stage import private_stage

pytestmark = pytest.mark.integration

STAGE = "jobs"
WAIT_S = 90.0  # upper bound of any wait for a job to reach its final status
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def jobs_home(tmp_path_factory) -> Iterator[tuple[StackOutputs, os.PathLike]]:
    with private_stage(tmp_path_factory, load_config(stage=STAGE, patterns=["jobs"])) as stage_and_home:
        yield stage_and_home


@pytest.fixture(scope="module")
def stage(jobs_home) -> StackOutputs:
    return jobs_home[0]


@pytest.fixture(scope="module")
def partner(stage) -> Iterator[ApiClient]:
    client = ApiClient(stage.api_url, tenant_token(stage))
    yield client
    client.close()


def _stats(stage: StackOutputs) -> dict:
    parts = urlsplit(stage.api_url)
    with urlopen(f"{parts.scheme}://{parts.netloc}/_hookstack/stats", timeout=5) as answer:
        return json.loads(answer.read())


def _intake_invocations(stage: StackOutputs) -> int:
    functions = _stats(stage)["functions"]
    return sum(f["invocations"] for label, f in functions.items() if label.endswith("jobs-intake"))


def _job(reference: str | None = None, **data) -> dict:
    records = [{"id": f"r{i}", "name": f"record {i}"} for i in range(3)]
    return {
        "reference": reference or uuid.uuid4().hex,
        "customer": "c1",
        "type": "import",
        "data": {"records": records, **data},
    }


def _submit(partner: ApiClient, job: dict):
    return partner.request("POST", "/jobs", json.dumps(job).encode(), JSON)


def _final(partner: ApiClient, job_id: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        document = partner.request("GET", f"/jobs/{job_id}").json()
        if document["status"] in ("SUCCEEDED", "FAILED"):
            return document
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish within {WAIT_S} s: {document}")


def _run_consumer(home, jobs: int) -> subprocess.CompletedProcess:
    """A consumer machine: its own process, as a partner's would be, bounded by jobs and idleness."""
    command = [
        sys.executable,
        "-m",
        "stack.cli",
        "consumer",
        "--handler",
        "stack.jobs_consumer.sample_job:insert_customer_records",
        "--stage",
        STAGE,
        "--max-jobs",
        str(jobs),
        "--idle-exit",
        "20",
    ]
    env = {**os.environ, "HOOKSTACK_HOME": str(home)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=WAIT_S + 30)


def test_a_body_failing_the_schema_is_400_at_the_gateway_and_the_intake_never_runs(stage, partner):
    before = _intake_invocations(stage)
    for body in (b"{}", b"not json", json.dumps({**_job(), "unexpected": True}).encode()):
        answer = partner.request("POST", "/jobs", body, JSON)
        assert (answer.status, answer.json()) == (400, {"message": "Invalid request body"})
    assert _intake_invocations(stage) == before
    assert _stats(stage)["request_validation"]["refused"] >= 3


def test_a_job_with_a_3_mb_attachment_runs_on_a_consumer_and_is_polled_to_success(stage, partner, jobs_home):
    # 3 MB: base64 makes it 4 MB, within the stage's 4 MiB body limit (Lambda's 6 MB payload, escaped).
    attachment = os.urandom(3_000_000)
    job = _job()
    job["attachments"] = [{"name": "catalogue.bin", "content_base64": base64.b64encode(attachment).decode()}]
    accepted = _submit(partner, job)
    assert accepted.status == 202, accepted.json()
    job_id = accepted.json()["id"]
    assert accepted.json()["status_url"].endswith(f"/{STAGE}/jobs/{job_id}")
    failing = _submit(partner, _job(fail="customer c1 is closed"))
    assert failing.status == 202

    consumer = _run_consumer(jobs_home[1], jobs=2)
    assert consumer.returncode == 0, consumer.stderr[-2000:]

    done = _final(partner, job_id)
    assert done["status"] == "SUCCEEDED" and done["result"] == {"inserted": 3} and done["attachments"] == 1
    failed = _final(partner, failing.json()["id"])
    assert failed["status"] == "FAILED" and "customer c1 is closed" in failed["reason"]
    records = stage.client("dynamodb").scan(TableName=stage.resource("CustomerRecordsTable", "jobs"))["Items"]
    assert {item["id"]["S"] for item in records} >= {"c1#r0", "c1#r1", "c1#r2"}


def test_bad_jobs_get_their_reason_and_leave_nothing_behind(stage, partner):
    first = _submit(partner, _job("ref-dup"))
    duplicate = _submit(partner, _job("ref-dup"))
    assert first.status == 202 and duplicate.status == 409
    assert duplicate.json()["id"] == first.json()["id"]
    not_base64 = _job()
    not_base64["attachments"] = [{"name": "a.txt", "content_base64": "%%%"}]
    answer = _submit(partner, not_base64)
    assert answer.status == 400 and "not valid base64" in answer.json()["message"]
    too_large = json.dumps({**_job(), "data": {"blob": "x" * (5 * 1024 * 1024)}}).encode()
    assert partner.request("POST", "/jobs", too_large, JSON).status == 413
    assert partner.request("GET", "/jobs/job_" + "0" * 32).status == 404


# --- property: the deployed API answers only what it documents, and writes whole jobs or nothing ---

_references = st.from_regex(r"\A[A-Za-z0-9._:-]{1,20}\Z")
_attachments = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["a.txt", "b.bin", "a b", ""]),
            "content_base64": st.sampled_from(["", "aGVsbG8=", "not base64!", "aGVsbG8"]),
        },
        optional={"content_type": st.sampled_from(["text/plain", ""])},
    ),
    max_size=3,
)
_submissions = st.fixed_dictionaries(
    {
        "reference": _references | st.text(max_size=5),
        "customer": st.sampled_from(["c1", "c2", "bad customer"]),
        "type": st.sampled_from(["import", "Import", "x" * 70]),
        "data": st.dictionaries(st.text(max_size=5), json_values, max_size=3) | json_values,
    },
    optional={"attachments": _attachments, "extra": st.integers()},
)
_bodies = (
    st.builds(lambda d: json.dumps(d).encode(), _submissions)
    | st.builds(str.encode, json_texts)
    | st.binary(max_size=64)
)


def _job_items(stage: StackOutputs) -> tuple[int, int]:
    table = stage.resource("JobsTable", "jobs")
    items = stage.client("dynamodb").scan(TableName=table, ProjectionExpression="kind")["Items"]
    kinds = [item.get("kind", {}).get("S") for item in items]
    return kinds.count("job"), kinds.count("reference")


def _queued_jobs(stage: StackOutputs) -> int:
    attributes = stage.client("sqs").get_queue_attributes(
        QueueUrl=stage.resource("JobsQueueUrl", "jobs"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_arbitrary_submissions_get_documented_answers_and_leave_whole_jobs_only(stage, partner):
    definition = hookstack_stack(load_config(stage=STAGE, patterns=["jobs"]))
    (route,) = [r for r in definition.apis[0].routes if (r.method, r.path) == ("POST", "/jobs")]
    documented = set(documented_statuses(route))
    jobs_before, claims_before, queued_before = *_job_items(stage), _queued_jobs(stage)
    answers: list[int] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=_bodies)
    def submit(body: bytes) -> None:
        status = partner.request("POST", "/jobs", body, JSON).status
        answers.append(status)
        assert status in documented, f"{status} is not documented for POST /jobs: {body[:200]!r}"
        assert status < 500 or status == 503, f"{status} for {body[:200]!r}"

    submit()
    accepted = answers.count(202)
    jobs_after, claims_after = _job_items(stage)
    assert (jobs_after - jobs_before, claims_after - claims_before) == (accepted, accepted)
    assert _queued_jobs(stage) - queued_before == accepted
    assert {202, 400} <= set(answers), answers  # the strategy reached both sides of the gateway's check
