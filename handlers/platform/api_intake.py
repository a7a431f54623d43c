"""What the pattern intakes behind the REST API share: a refusal as the caller reads it, a body
read as a typed submission, and the URL where the caller polls what it submitted."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ValidationError

from handlers.platform.api_gateway import json_response, lowercase_headers
from handlers.platform.json_body import JsonBodyError, read_json_body
from handlers.platform.logging_setup import elapsed_ms

Submission = TypeVar("Submission", bound=BaseModel)


class Refusal(Exception):
    """The request cannot be accepted: ``status`` and a one-line reason (plus any fields) for the caller."""

    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.extra = extra

    def response(self) -> dict[str, Any]:
        return json_response(self.status, {"message": str(self), **self.extra})


def first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem.get("loc", ())) or "body"
    return f"{where}: {problem.get('msg', 'invalid')}"


def read_submission(body: bytes, max_body_bytes: int, model: type[Submission], what: str) -> Submission:
    """The body as ``model``: 413 past ``max_body_bytes``, 400 when it is not JSON or not a ``what``."""
    if len(body) > max_body_bytes:
        raise Refusal(413, f"body is {len(body)} bytes, more than the {max_body_bytes} this API takes")
    try:
        _, document = read_json_body(body)
    except JsonBodyError as error:
        raise Refusal(400, str(error)) from None
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise Refusal(400, f"invalid {what}: {first_problem(error)}") from None


def status_url(event: Mapping[str, Any], item_id: str) -> str:
    """Where the caller polls ``item_id``: the collection it posted to (``/jobs``, ``/invoices``)
    on this API's own address, as the request reached it."""
    headers = lowercase_headers(event)
    context = event.get("requestContext") or {}
    host = headers.get("host") or context.get("domainName") or ""
    proto = (headers.get("x-forwarded-proto") or "https").split(",")[0].strip()
    collection = context.get("path") or event.get("path") or ""
    return f"{proto}://{host}{collection.rstrip('/')}/{item_id}"


def answer_submission(
    logger: Logger, function: str, what: str, log: dict[str, Any], submit: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The intake's edge: ``submit()``'s answer, a refusal's, or — should a bug raise — a 500 with a
    reason (never a function error); then the one log line per invocation the reports read."""
    started = time.perf_counter()
    try:
        response = submit()
    except Refusal as refusal:
        response = refusal.response()
        log["reason"] = str(refusal)
    except Exception:  # noqa: BLE001  (a bug: a 500 with a reason, never a function error)
        logger.exception(f"{function} failed", extra=log)
        response = json_response(500, {"message": f"internal error: the {what} was not accepted"})
    logger.info(
        function,
        extra={"function": function, "duration_ms": elapsed_ms(started), "status": response["statusCode"], **log},
    )
    return response
