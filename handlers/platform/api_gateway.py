"""The edge of the REST API proxy integration: headers, raw body, authorizer context, responses."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any


def lowercase_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """All request headers, names lower-cased (HTTP names are case-insensitive and HTTP/2
    lower-cases them). ``multiValueHeaders`` first, then ``headers`` (the last value) on top."""
    merged: dict[str, str] = {}
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if values:
            merged[name.lower()] = values[-1]
    for name, value in (event.get("headers") or {}).items():
        if value is not None:
            merged[name.lower()] = value
    return merged


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body exactly as sent (signatures are computed over these bytes); ValueError
    with a one-line reason when the event's body cannot be bytes."""
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise ValueError("body is neither text nor base64")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("isBase64Encoded body is not valid base64") from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: only a hand-made event can hold them
        raise ValueError("body is not valid Unicode text") from None


def authorizer_context(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = (event.get("requestContext") or {}).get("authorizer")
    return context if isinstance(context, Mapping) else {}


def path_parameter(event: Mapping[str, Any], name: str) -> str | None:
    """One path parameter; None when absent (or, in a hand-made event, not a string)."""
    value = (event.get("pathParameters") or {}).get(name)
    return value if isinstance(value, str) else None


def query_parameter(event: Mapping[str, Any], name: str) -> str | None:
    """One query-string parameter, decoded (the last value when repeated, as API Gateway gives it)."""
    value = (event.get("queryStringParameters") or {}).get(name)
    return value if isinstance(value, str) else None


def json_response(status_code: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload, separators=(",", ":")),
    }
