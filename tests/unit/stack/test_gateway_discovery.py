"""Reading the deployed definition: what is refused, how code is fetched and unpacked."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from stack.embedded.gateway.definition import MAX_PAYLOAD_BYTES, StageSpec
from stack.embedded.gateway.discovery import (
    DefinitionError,
    FunctionRef,
    NotSupportedOnTarget,
    code_url,
    parse_function_ref,
    read_authorizer,
    read_method,
    read_stage,
    unpack_code,
)

FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:producer"
URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FN_ARN}/invocations"


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        (URI, FunctionRef("producer", None)),
        (URI.replace("producer/", "producer:live/"), FunctionRef("producer", "live")),
        (FN_ARN, FunctionRef("producer", None)),
        ("producer:3", FunctionRef("producer", "3")),
    ],
)
def test_function_refs(uri: str, ref: FunctionRef) -> None:
    assert parse_function_ref(uri) == ref


def test_bad_function_ref() -> None:
    with pytest.raises(DefinitionError):
        parse_function_ref("arn:aws:sqs:us-east-1:000000000000:queue")


def test_code_location_is_repointed_at_the_endpoint() -> None:
    location = (
        "http://localhost:4566/_ministack/lambda-code/000000000000/us-east-1/producer"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=x"
    )
    assert code_url(location, "http://127.0.0.1:39001") == (
        "http://127.0.0.1:39001/_ministack/lambda-code/000000000000/us-east-1/producer"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=x"
    )


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 1\n")
        archive.writestr("pkg/__init__.py", "")
    return buffer.getvalue()


def test_unpack_checks_the_sha_and_unpacks_once(tmp_path: Path) -> None:
    data = _zip()
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    first = unpack_code(data, sha, tmp_path, "producer")
    assert (first / "app.py").read_text().startswith("def handler")
    assert (first / "pkg" / "__init__.py").exists()
    (first / "marker").write_text("kept")
    assert unpack_code(data, sha, tmp_path, "producer") == first
    assert (first / "marker").exists()


def test_unpack_refuses_code_that_does_not_match(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="CodeSha256"):
        unpack_code(_zip(), base64.b64encode(b"0" * 32).decode(), tmp_path, "producer")


def _integration(**overrides: object) -> dict:
    return {"type": "AWS_PROXY", "uri": URI, "timeoutInMillis": 29000, **overrides}


def test_read_method() -> None:
    spec, ref = read_method(
        "/webhooks/{provider}",
        "POST",
        {"authorizationType": "CUSTOM", "authorizerId": "au1"},
        _integration(timeoutInMillis=500),
    )
    assert (spec.authorization_type, spec.authorizer_id, spec.function_name) == ("CUSTOM", "au1", "producer")
    assert spec.integration_timeout_ms == 500
    assert ref == FunctionRef("producer", None)
    capped, _ = read_method("/x", "GET", {"authorizationType": "NONE"}, _integration(timeoutInMillis=60000))
    assert capped.integration_timeout_ms == 29000


@pytest.mark.parametrize(
    ("method", "integration"),
    [
        ({"authorizationType": "NONE"}, _integration(type="MOCK")),
        ({"authorizationType": "NONE"}, _integration(type="HTTP_PROXY", uri="http://example.invalid")),
        ({"authorizationType": "AWS_IAM"}, _integration()),
        ({"authorizationType": "COGNITO_USER_POOLS"}, _integration()),
        ({"authorizationType": "NONE", "apiKeyRequired": True}, _integration()),
        ({"authorizationType": "NONE", "requestValidatorId": "params"}, _integration()),
    ],
)
def test_unsupported_methods_are_refused_clearly(method: dict, integration: dict) -> None:
    validators = {"params": {"id": "params", "validateRequestParameters": True, "validateRequestBody": True}}
    with pytest.raises(NotSupportedOnTarget, match="not supported on this target"):
        read_method("/x", "GET", method, integration, validators, {})


JOB_SCHEMA = {"type": "object", "required": ["reference"]}
BODY_VALIDATOR = {"body": {"id": "body", "validateRequestBody": True, "validateRequestParameters": False}}
JOB_MODEL = {"Job": {"name": "Job", "schema": json.dumps(JOB_SCHEMA)}}


def test_a_body_validator_brings_its_models_schemas() -> None:
    method = {"authorizationType": "NONE", "requestValidatorId": "body", "requestModels": {"application/json": "Job"}}
    spec, _ = read_method("/jobs", "POST", method, _integration(), BODY_VALIDATOR, JOB_MODEL)
    assert spec.body_models == {"application/json": JOB_SCHEMA}
    plain, _ = read_method("/jobs", "POST", {"authorizationType": "NONE"}, _integration(), BODY_VALIDATOR, JOB_MODEL)
    assert plain.body_models is None


def test_a_validator_or_model_that_does_not_exist_is_a_definition_error() -> None:
    method = {"authorizationType": "NONE", "requestValidatorId": "gone", "requestModels": {"application/json": "Job"}}
    with pytest.raises(DefinitionError, match="request validator 'gone' does not exist"):
        read_method("/jobs", "POST", method, _integration(), BODY_VALIDATOR, JOB_MODEL)
    method = {**method, "requestValidatorId": "body", "requestModels": {"application/json": "Missing"}}
    with pytest.raises(DefinitionError, match="request model 'Missing' does not exist"):
        read_method("/jobs", "POST", method, _integration(), BODY_VALIDATOR, JOB_MODEL)


def test_read_authorizer_defaults() -> None:
    request, _ = read_authorizer(
        {
            "id": "a",
            "name": "tenant",
            "type": "REQUEST",
            "authorizerUri": URI,
            "identitySource": "method.request.header.Authorization, method.request.querystring.t",
        }
    )
    assert request.identity_sources == ("method.request.header.Authorization", "method.request.querystring.t")
    assert request.ttl_s == 300
    token, _ = read_authorizer({"id": "b", "type": "TOKEN", "authorizerUri": URI, "authorizerResultTtlInSeconds": 0})
    assert token.identity_sources == ("method.request.header.Authorization",)
    assert token.ttl_s == 0
    with pytest.raises(NotSupportedOnTarget):
        read_authorizer({"id": "c", "type": "COGNITO_USER_POOLS", "authorizerUri": URI})


def test_stage_and_request_limit() -> None:
    stage = read_stage(
        {
            "stageName": "prod",
            "variables": {"maxRequestBytes": "2048"},
            "methodSettings": {"*/*": {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 10}},
        }
    )
    assert stage.max_request_bytes == 2048
    assert stage.throttling["*/*"].burst == 10
    assert StageSpec("s", {}, {}).max_request_bytes == MAX_PAYLOAD_BYTES
    assert StageSpec("s", {"maxRequestBytes": str(50 * 1024 * 1024)}, {}).max_request_bytes == MAX_PAYLOAD_BYTES
    with pytest.raises(ValueError, match="maxRequestBytes"):
        _ = StageSpec("s", {"maxRequestBytes": "ten"}, {}).max_request_bytes
