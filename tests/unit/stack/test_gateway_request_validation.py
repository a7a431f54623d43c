"""The embedded gateway's request body validation, as API Gateway answers it."""

from __future__ import annotations

import json

import pytest

from handlers.jobs.contract import JOB_SUBMISSION_SCHEMA
from stack.embedded.gateway.discovery import DefinitionError
from stack.embedded.gateway.gateway_responses import BAD_REQUEST_BODY
from stack.embedded.gateway.request_validation import BodyValidator

VALID_JOB = {"reference": "r-1", "customer": "c1", "type": "import", "data": {}}


@pytest.fixture
def jobs() -> BodyValidator:
    return BodyValidator({"application/json": JOB_SUBMISSION_SCHEMA}, "POST /jobs")


def test_a_body_that_holds_to_the_model_passes(jobs):
    assert jobs.refusal("application/json; charset=utf-8", json.dumps(VALID_JOB).encode()) is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"[]",
        json.dumps({**VALID_JOB, "unknown": 1}).encode(),
        json.dumps({k: v for k, v in VALID_JOB.items() if k != "customer"}).encode(),
        json.dumps({**VALID_JOB, "reference": "has space"}).encode(),
        json.dumps({**VALID_JOB, "attachments": [{"name": "a.txt"}]}).encode(),
        b"[" * 100_000,
    ],
)
def test_a_body_that_does_not_is_answered_invalid_request_body(jobs, body):
    refusal = jobs.refusal("application/json", body)
    assert refusal == BAD_REQUEST_BODY
    assert refusal.status == 400 and json.loads(refusal.body) == {"message": "Invalid request body"}


def test_another_content_type_falls_back_to_the_json_model(jobs):
    assert jobs.refusal("text/plain", b"{}") == BAD_REQUEST_BODY
    assert jobs.refusal(None, json.dumps(VALID_JOB).encode()) is None


def test_a_model_that_is_not_a_draft_04_schema_is_refused_when_the_api_is_read():
    with pytest.raises(DefinitionError, match="POST /jobs: the application/json model is not a draft-04 schema"):
        BodyValidator({"application/json": {"type": "no-such-type"}}, "POST /jobs")
