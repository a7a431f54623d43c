"""The partner's HTTP answers and request reading: JSON bodies, injected failures, refusals."""

from __future__ import annotations

import json
from typing import Any

from stack.embedded.gateway.http_server import HttpRequest, HttpResponse, error_response
from stack.partner.faults import FaultDecision

JSON_HEADERS = (("Content-Type", "application/json"),)


class Refused(Exception):
    """A request the partner answers ``status`` with ``{"message": ...}`` (bad input, unknown id)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def response(self) -> HttpResponse:
        return error_response(self.status, str(self))


def json_response(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status, [*JSON_HEADERS, *headers], json.dumps(payload).encode())


def failure_response(decision: FaultDecision) -> HttpResponse:
    """The answer of an injected outage or error."""
    assert decision.fail_status is not None and decision.cause is not None
    return error_response(decision.fail_status, f"injected {decision.cause}")


def json_object(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object, else :class:`Refused` 400."""
    try:
        document = json.loads(request.body)
    except ValueError:
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(document, dict):
        raise Refused(400, "the body is not a JSON object")
    return document


def body_text(request: HttpRequest) -> str:
    return request.body.decode("utf-8", "replace")
