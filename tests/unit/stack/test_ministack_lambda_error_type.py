"""``lambda-python-error-type``: a Python exception's errorType is its class name, on MiniStack's
own warm executor (a real worker process, no server)."""

from __future__ import annotations

import io
import traceback
import types
import zipfile

import pytest
from ministack.core import lambda_runtime
from ministack.services import lambda_svc

from stack.embedded.ministack.patches import (
    LAMBDA_ERROR_TYPE_PATCH,
    PINNED_MINISTACK_VERSION,
    apply_lambda_error_type_patch,
    python_error_from_traceback,
    python_error_types,
)

RAISING = """
class PaymentDeclined(Exception):
    pass


def handler(event, context):
    if event.get("ok"):
        return {"ok": True}
    raise PaymentDeclined("card declined:\\nsecond line")
"""


def _function(name: str, runtime: str = "python3.12") -> dict:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("index.py", RAISING)
    config = {
        "FunctionName": name,
        "Runtime": runtime,
        "Handler": "index.handler",
        "Timeout": 10,
        "MemorySize": 128,
        "Version": "$LATEST",
        "FunctionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
    }
    return {"config": config, "code_zip": archive.getvalue()}


@pytest.fixture(scope="module")
def ministack_execute():
    own = lambda_svc._execute_function_warm
    while getattr(own, "hookstack_patch", None) == LAMBDA_ERROR_TYPE_PATCH:
        own = own.__wrapped__  # the server entry's test may have patched this process
    yield own
    lambda_runtime.reset()  # stop the worker processes


def test_a_handler_exception_is_named_by_its_class(ministack_execute):
    function = _function("fidelity-error-type")
    upstream = ministack_execute(function, {}, "req-1")
    assert upstream["error"] and upstream["body"]["errorType"] == "Runtime.HandlerError"
    result = python_error_types(ministack_execute)(function, {}, "req-2")
    body = result["body"]
    assert body["errorType"] == "PaymentDeclined"
    assert body["errorMessage"] == "card declined:\nsecond line"
    assert (
        len(body["stackTrace"]) == 1 and "index.py" in body["stackTrace"][0] and "in handler" in body["stackTrace"][0]
    )
    ok = python_error_types(ministack_execute)(function, {"ok": True}, "req-3")
    assert ok["body"] == {"ok": True} and not ok.get("error")


def test_other_errors_and_runtimes_are_left_as_reported():
    timed_out = {"body": {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"}, "error": True, "log": ""}
    assert python_error_types(lambda f, e, r: timed_out)(_function("x"), {}, "r") == timed_out
    node = {
        "body": {"errorType": "Runtime.HandlerError", "errorMessage": "m"},
        "error": True,
        "log": "Traceback (most recent call last):\nError: m",
    }
    assert python_error_types(lambda f, e, r: node)(_function("x", "nodejs20.x"), {}, "r") == node
    unreadable = {**node, "log": "no traceback here"}
    assert python_error_types(lambda f, e, r: unreadable)(_function("x"), {}, "r") == unreadable


def test_the_traceback_reader():
    class Custom(Exception):
        pass

    try:
        raise Custom("a: b")
    except Custom as exc:
        trace = traceback.format_exc()
        error = python_error_from_traceback("log line\n" + trace, str(exc))
    assert error is not None and error["errorType"] == "Custom" and error["errorMessage"] == "a: b"
    assert python_error_from_traceback(trace, "another message") is None
    try:
        raise ValueError
    except ValueError:
        assert python_error_from_traceback(traceback.format_exc(), "")["errorType"] == "ValueError"


def test_guard():
    fake = types.ModuleType("fake_lambda")
    fake._execute_function_warm = lambda func, event, request_id: {}
    outcome = apply_lambda_error_type_patch(fake, PINNED_MINISTACK_VERSION)
    assert not outcome.applied and "_execute_function_warm is not the source" in outcome.detail
    fake._execute_function_warm = lambda_svc._execute_function_warm
    while getattr(fake._execute_function_warm, "hookstack_patch", None):
        fake._execute_function_warm = fake._execute_function_warm.__wrapped__
    assert not apply_lambda_error_type_patch(fake, "1.5.34").applied
    assert apply_lambda_error_type_patch(fake, PINNED_MINISTACK_VERSION).applied
    assert apply_lambda_error_type_patch(fake, PINNED_MINISTACK_VERSION).detail == "already in place"
