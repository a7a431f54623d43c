"""The Lambda proxy integration contract of a REST API (payload format 1.0).

Builds the event API Gateway hands to an ``AWS_PROXY`` function and to a REQUEST (or
TOKEN) authorizer, and turns the function's ``{statusCode, headers, multiValueHeaders,
body, isBase64Encoded}`` answer into an HTTP response. Pure functions over plain data.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class MalformedProxyResponse(ValueError):
    """The function's answer is not a valid proxy response (API Gateway answers 502)."""


@dataclass(slots=True)
class RequestView:
    """One HTTP request as API Gateway presents it to functions (stage already stripped)."""

    http_method: str
    path: str  # decoded, without the stage: /webhooks/shopify
    headers: dict[str, str]
    multi_value_headers: dict[str, list[str]]
    query: dict[str, str] | None
    multi_value_query: dict[str, list[str]] | None
    body: bytes
    source_ip: str

    def header(self, name: str) -> str | None:
        """Case-insensitive single header value (the last one sent)."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


def merge_headers(raw: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Raw header lines → (``headers``, ``multiValueHeaders``).

    Names keep the spelling of their first occurrence and merge case-insensitively; the
    single-value map holds the last value, as API Gateway's REST proxy event does.
    """
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in raw:
        key = spelling.setdefault(name.lower(), name)
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def parse_query(query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """Query string → (``queryStringParameters``, ``multiValueQueryStringParameters``), None when empty."""
    if not query:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        single[name] = value
        multi.setdefault(name, []).append(value)
    if not multi:
        return None, None
    return single, multi


def media_type_matches(content_type: str | None, binary_media_types: Sequence[str]) -> bool:
    """Whether a Content-Type/Accept value matches the API's ``binaryMediaTypes`` (``*/*``, ``type/*``)."""
    if not content_type or not binary_media_types:
        return False
    for candidate in content_type.split(","):
        media = candidate.split(";", 1)[0].strip().lower()
        if not media:
            continue
        for pattern in binary_media_types:
            pattern = pattern.strip().lower()
            if pattern in ("*/*", media):
                return True
            if pattern.endswith("/*") and media.split("/", 1)[0] == pattern[:-2]:
                return True
    return False


def request_time(epoch_ms: int) -> str:
    """CLF time as in ``requestContext.requestTime``: ``04/Mar/2020:19:15:17 +0000`` (English months)."""
    t = time.gmtime(epoch_ms / 1000)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def build_request_context(
    *,
    request: RequestView,
    account_id: str,
    api_id: str,
    stage: str,
    resource_id: str,
    resource_path: str,
    request_id: str,
    extended_request_id: str,
    epoch_ms: int,
    domain_name: str,
) -> dict[str, Any]:
    return {
        "resourceId": resource_id,
        "resourcePath": resource_path,
        "httpMethod": request.http_method,
        "extendedRequestId": extended_request_id,
        "requestTime": request_time(epoch_ms),
        "path": f"/{stage}{request.path}",
        "accountId": account_id,
        "protocol": "HTTP/1.1",
        "stage": stage,
        "domainPrefix": domain_name.split(".", 1)[0],
        "requestTimeEpoch": epoch_ms,
        "requestId": request_id,
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": request.source_ip,
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": request.header("User-Agent"),
            "user": None,
        },
        "domainName": domain_name,
        "apiId": api_id,
    }


def encode_body(request: RequestView, binary_media_types: Sequence[str]) -> tuple[str | None, bool]:
    """(``body``, ``isBase64Encoded``): base64 when Content-Type is a binary media type."""
    if not request.body:
        return None, False
    if media_type_matches(request.header("Content-Type"), binary_media_types):
        return base64.b64encode(request.body).decode("ascii"), True
    return request.body.decode("utf-8", errors="replace"), False


def _request_parameters(
    request: RequestView, resource_path: str, path_parameters: Mapping[str, str], stage_variables: Mapping[str, str]
) -> dict[str, Any]:
    """What the proxy event and the REQUEST authorizer's event both carry of the request."""
    return {
        "resource": resource_path,
        "path": request.path,
        "httpMethod": request.http_method,
        "headers": request.headers or None,
        "multiValueHeaders": request.multi_value_headers or None,
        "queryStringParameters": request.query,
        "multiValueQueryStringParameters": request.multi_value_query,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": dict(stage_variables) or None,
    }


def build_proxy_event(
    *,
    request: RequestView,
    resource_path: str,
    path_parameters: Mapping[str, str],
    stage_variables: Mapping[str, str],
    request_context: Mapping[str, Any],
    authorizer: Mapping[str, Any] | None,
    binary_media_types: Sequence[str],
) -> dict[str, Any]:
    """The ``AWS_PROXY`` event (REST API, payload format 1.0)."""
    body, is_base64 = encode_body(request, binary_media_types)
    context = dict(request_context)
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return {
        **_request_parameters(request, resource_path, path_parameters, stage_variables),
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def build_request_authorizer_event(
    *,
    request: RequestView,
    method_arn: str,
    resource_path: str,
    path_parameters: Mapping[str, str],
    stage_variables: Mapping[str, str],
    request_context: Mapping[str, Any],
) -> dict[str, Any]:
    """A REQUEST authorizer's event: the request's parameters and context, never its body."""
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        **_request_parameters(request, resource_path, path_parameters, stage_variables),
        "requestContext": dict(request_context),
    }


def build_token_authorizer_event(*, token: str, method_arn: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}


@dataclass(frozen=True, slots=True)
class ProxyResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise MalformedProxyResponse(f"header value {value!r} is not a string")


def parse_proxy_response(result: Any, accept: str | None, binary_media_types: Sequence[str]) -> ProxyResponse:
    """The function's answer → HTTP response, or :class:`MalformedProxyResponse`.

    ``statusCode`` defaults to 200; ``body`` must be a string (or absent); ``headers`` and
    ``multiValueHeaders`` merge, a name in both taking the multi-value list. A base64
    body is decoded only when the request's Accept matches a binary media type.
    Without a Content-Type from the function the answer is ``application/json``.
    """
    if not isinstance(result, Mapping):
        raise MalformedProxyResponse("the function's answer is not a JSON object")
    status_raw = result.get("statusCode", 200)
    try:
        status = int(status_raw)
    except (TypeError, ValueError) as exc:
        raise MalformedProxyResponse(f"statusCode {status_raw!r} is not an integer") from exc
    if not 100 <= status <= 599:
        raise MalformedProxyResponse(f"statusCode {status} is out of range")
    headers: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise MalformedProxyResponse("headers and multiValueHeaders must be objects")
    for name, value in single.items():
        key = spelling.setdefault(str(name).lower(), str(name))
        headers[key] = [_header_value(value)]
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedProxyResponse(f"multiValueHeaders[{name!r}] is not a list")
        if not values:
            continue
        key = spelling.setdefault(str(name).lower(), str(name))
        headers[key] = [_header_value(v) for v in values]
    body = result.get("body")
    if body is None:
        payload = b""
    elif isinstance(body, str):
        if result.get("isBase64Encoded") and media_type_matches(accept, binary_media_types):
            try:
                payload = base64.b64decode(body, validate=True)
            except ValueError as exc:
                raise MalformedProxyResponse("isBase64Encoded body is not base64") from exc
        else:
            payload = body.encode("utf-8")
    else:
        raise MalformedProxyResponse("body must be a string")
    if "content-type" not in spelling:
        headers["Content-Type"] = ["application/json"]
    flat = [(name, value) for name, values in headers.items() for value in values]
    return ProxyResponse(status, flat, payload)
