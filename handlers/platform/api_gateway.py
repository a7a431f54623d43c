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
    """The request body exactly as sent (signatures are computed over these bytes)."""
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("isBase64Encoded body is not valid base64") from None
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def authorizer_context(event: Mapping[str, Any]) -> Mapping[str, Any]:
    return (event.get("requestContext") or {}).get("authorizer") or {}


def path_parameter(event: Mapping[str, Any], name: str) -> str | None:
    return (event.get("pathParameters") or {}).get(name)


def query_parameter(event: Mapping[str, Any], name: str) -> str | None:
    """One query-string parameter, decoded (the last value when repeated, as API Gateway gives it)."""
    return (event.get("queryStringParameters") or {}).get(name)


def json_response(status_code: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload, separators=(",", ":")),
    }
