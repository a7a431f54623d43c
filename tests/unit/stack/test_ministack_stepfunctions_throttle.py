"""The Step Functions throttle patches, on MiniStack's own modules in this process (no server):
a template's ReservedConcurrentExecutions limits the function, and a Lambda task that meets the
limit fails with ``Lambda.TooManyRequestsException`` (so a Retry on that name matches) — each
shown unpatched first. Reserved concurrency 0 throttles every call, so no worker process starts."""

from __future__ import annotations

import json

import pytest
from ministack.services import lambda_svc, stepfunctions
from ministack.services.cloudformation import provisioners

from stack.embedded.ministack.patches import PINNED_MINISTACK_VERSION
from stack.embedded.ministack.stepfunctions_patches import (
    CFN_RESERVED_CONCURRENCY_PATCH,
    LAMBDA_THROTTLE_ERROR,
    THROTTLE_ERROR_PATCH,
    apply_cfn_reserved_concurrency_patch,
    apply_throttle_error_patch,
    naming_lambda_throttles,
)

FUNCTION_TYPE = "AWS::Lambda::Function"
UPSTREAM_FUNCTION_HANDLERS = dict(provisioners._RESOURCE_HANDLERS[FUNCTION_TYPE])
UPSTREAM_CALL_LAMBDA = stepfunctions._call_lambda
RETRY_ON_THROTTLE = [{"ErrorEquals": [LAMBDA_THROTTLE_ERROR], "IntervalSeconds": 1, "MaxAttempts": 3}]


@pytest.fixture(autouse=True)
def _unpatched(monkeypatch):
    if getattr(UPSTREAM_CALL_LAMBDA, "hookstack_patch", None) or getattr(
        UPSTREAM_FUNCTION_HANDLERS["create"], "hookstack_patch", None
    ):
        pytest.fail("MiniStack was patched before these tests imported it")
    monkeypatch.setitem(provisioners._RESOURCE_HANDLERS, FUNCTION_TYPE, dict(UPSTREAM_FUNCTION_HANDLERS))
    monkeypatch.setattr(stepfunctions, "_call_lambda", UPSTREAM_CALL_LAMBDA)
    lambda_svc.reset()
    yield
    lambda_svc.reset()


def _props(name: str, **extra: object) -> dict:
    return {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Role": "arn:aws:iam::000000000000:role/steps",
        "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
        **extra,
    }


def _reserved(name: str) -> dict:
    _, _, body = lambda_svc._get_function_concurrency(name)
    return json.loads(body)


def _task_error(name: str) -> stepfunctions._ExecutionError:
    with pytest.raises(stepfunctions._ExecutionError) as raised:
        stepfunctions._call_lambda(f"arn:aws:lambda:us-east-1:000000000000:function:{name}", {"n": 1})
    return raised.value


def _cfn(action: str):
    return provisioners._RESOURCE_HANDLERS[FUNCTION_TYPE][action]


def test_unpatched_a_template_reservation_is_dropped_patched_it_limits_the_function():
    _cfn("create")("Steps", _props("steps-unpatched", ReservedConcurrentExecutions=0), "s")
    assert _reserved("steps-unpatched") == {}  # MiniStack: no limit

    outcome = apply_cfn_reserved_concurrency_patch()
    assert outcome.applied, outcome.describe()
    _cfn("create")("Steps", _props("steps", ReservedConcurrentExecutions=0), "s")
    assert _reserved("steps") == {"ReservedConcurrentExecutions": 0}
    _cfn("update")("steps", _props("steps", ReservedConcurrentExecutions=0), _props("steps", Timeout=5), "s", "Steps")
    assert _reserved("steps") == {}  # the property removed: unreserved again, as on AWS
    _cfn("update")("steps", _props("steps"), _props("steps", ReservedConcurrentExecutions=3), "s", "Steps")
    assert _reserved("steps") == {"ReservedConcurrentExecutions": 3}
    assert apply_cfn_reserved_concurrency_patch().detail == "already in place"


def test_unpatched_a_throttled_task_is_lambda_unknown_patched_it_is_too_many_requests():
    assert apply_cfn_reserved_concurrency_patch().applied
    _cfn("create")("Steps", _props("steps", ReservedConcurrentExecutions=0), "s")

    unpatched = _task_error("steps")
    assert unpatched.error == "Lambda.Unknown"  # a Retry on the throttle never matches
    assert stepfunctions._find_matching_retrier(RETRY_ON_THROTTLE, unpatched.error, {})[0] is None

    outcome = apply_throttle_error_patch()
    assert outcome.applied, outcome.describe()
    patched = _task_error("steps")
    assert patched.error == LAMBDA_THROTTLE_ERROR
    assert "Status Code: 429" in patched.cause and "ReservedConcurrentExecutions" in patched.cause
    assert stepfunctions._find_matching_retrier(RETRY_ON_THROTTLE, patched.error, {})[0] is not None
    assert apply_throttle_error_patch().detail == "already in place"


def test_the_function_s_own_errors_and_missing_functions_are_left_as_reported():
    apply_throttle_error_patch()
    missing = _task_error("no-such-function")
    assert missing.error == "Lambda.ResourceNotFoundException"

    def failing(func_ref, event):
        raise stepfunctions._ExecutionError("Lambda.Unknown", json.dumps({"errorMessage": "boom"}))

    with pytest.raises(stepfunctions._ExecutionError) as raised:
        naming_lambda_throttles(failing, stepfunctions._ExecutionError)("f", {})
    assert raised.value.error == "Lambda.Unknown" and json.loads(raised.value.cause) == {"errorMessage": "boom"}


@pytest.mark.parametrize(
    ("apply", "name"),
    [
        (apply_cfn_reserved_concurrency_patch, CFN_RESERVED_CONCURRENCY_PATCH),
        (apply_throttle_error_patch, THROTTLE_ERROR_PATCH),
    ],
)
def test_another_ministack_release_is_refused(apply, name):
    outcome = apply(installed_version="9.9.9")
    assert (outcome.name, outcome.applied) == (name, False)
    assert PINNED_MINISTACK_VERSION in outcome.detail
    assert provisioners._RESOURCE_HANDLERS[FUNCTION_TYPE]["create"] is UPSTREAM_FUNCTION_HANDLERS["create"]
    assert stepfunctions._call_lambda is UPSTREAM_CALL_LAMBDA


def test_changed_ministack_source_is_refused(monkeypatch):
    monkeypatch.setattr(stepfunctions, "_call_lambda", lambda func_ref, event: event)
    outcome = apply_throttle_error_patch()
    assert not outcome.applied and "_call_lambda" in outcome.detail
