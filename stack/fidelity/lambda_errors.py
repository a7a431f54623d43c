"""How a Python function's exception surfaces, as Lambda reports it to a synchronous caller."""

from __future__ import annotations

from stack.fidelity.behaviour import Behaviour, Differs
from stack.fidelity.probe import Probe

PYTHON_ERRORS_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html"

RAISING_FUNCTION = """
class PaymentDeclined(Exception):
    pass


def handler(event, context):
    raise PaymentDeclined("card declined")
"""


def error_shape(p: Probe) -> None:
    function = p.python_function(RAISING_FUNCTION)
    function_error, payload = p.invoke(function, {})
    if function_error != "Unhandled":
        raise Differs(f"FunctionError {function_error!r}, Lambda answers 'Unhandled'")
    if not isinstance(payload, dict):
        raise Differs(f"error payload {payload!r} is not an object")
    p.expect_equal("errorType", payload.get("errorType"), "PaymentDeclined")
    p.expect_equal("errorMessage", payload.get("errorMessage"), "card declined")
    trace = payload.get("stackTrace")
    if not isinstance(trace, list) or not trace:
        raise Differs(f"stackTrace {trace!r}, Lambda gives the traceback's frames as a list")


BEHAVIOURS = [
    Behaviour(
        "lambda-error-type-is-exception-class",
        "lambda-errors",
        "a Python exception comes back as FunctionError Unhandled with errorType = its class name, errorMessage, "
        "stackTrace",
        PYTHON_ERRORS_DOC,
        error_shape,
    )
]
