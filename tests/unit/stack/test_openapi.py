"""The OpenAPI document: rendered from the same definition as the template, valid OpenAPI 3.0."""

from __future__ import annotations

import json
import subprocess
import sys

from openapi_spec_validator import validate

from handlers.jobs.contract import JOB_SUBMISSION_SCHEMA
from stack.config import HookstackConfig
from stack.definition.app import hookstack_stack
from stack.definition.openapi import documented_statuses, stack_openapi


def _document(**settings) -> dict:
    config = HookstackConfig(**settings)
    return stack_openapi(hookstack_stack(config), region=config.region)


def test_every_route_of_every_pattern_is_in_a_valid_document():
    document = _document(patterns=["all"])
    validate(document)
    definition = hookstack_stack(HookstackConfig(patterns=["all"]))
    routes = {(r.path, r.method.lower()) for r in definition.apis[0].routes}
    assert {(path, verb) for path, ops in document["paths"].items() for verb in ops} == routes


def test_the_job_model_is_the_gateway_model_and_its_answers_are_documented():
    post = _document(patterns=["jobs"])["paths"]["/jobs"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobSubmission"
    }
    schema = _document(patterns=["jobs"])["components"]["schemas"]["JobSubmission"]
    assert schema == {k: v for k, v in JOB_SUBMISSION_SCHEMA.items() if k != "$schema"}
    assert set(post["responses"]) == {"202", "400", "401", "403", "409", "413", "429", "502", "504", "503"}
    assert "Invalid request body" in post["responses"]["400"]["description"]
    assert "domain rule" in post["responses"]["400"]["description"]
    assert post["x-amazon-apigateway-request-validator"] == "body"


def test_a_route_without_a_model_or_authorizer_documents_only_what_can_answer():
    definition = hookstack_stack(HookstackConfig())
    status = next(r for r in definition.apis[0].routes if r.path == "/events/{id}")
    without = status.model_copy(update={"authorizer": None})
    assert 401 not in documented_statuses(without) and 400 not in documented_statuses(without)
    assert 401 in documented_statuses(status)


def test_the_token_placement_follows_the_stage():
    header = _document()["components"]["securitySchemes"]["TokenAuthorizer"]
    query = _document(identity_query_parameter="token")["components"]["securitySchemes"]["TokenAuthorizer"]
    assert header["in"] == "header" and (query["in"], query["name"]) == ("query", "token")


def test_synth_openapi_writes_it():
    out = subprocess.run(
        [sys.executable, "-m", "stack.cli", "synth", "--openapi", "--pattern", "all"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["openapi"] == "3.0.1"
