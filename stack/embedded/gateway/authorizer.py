"""Lambda authorizers: identity sources, the result cache, and reading what the function returns.

API Gateway caches an authorizer's *output* (policy, principalId, context) per identity
source value for ``authorizerResultTtlInSeconds`` (0 = no cache) and evaluates the cached
policy against every request's own method ARN. With caching on, a request missing any
identity source is refused 401 without invoking the authorizer.
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stack.embedded.gateway.definition import AuthorizerSpec
from stack.embedded.gateway.proxy_event import RequestView

CACHE_MAX_ENTRIES = 10_000
DECISIONS_KEPT = 256


class AuthorizerConfigurationError(ValueError):
    """The authorizer answered with something that is not a valid authorizer result (500)."""


@dataclass(frozen=True, slots=True)
class AuthorizerResult:
    principal_id: str | None
    policy_document: Mapping[str, Any]
    context: dict[str, str]
    # Decisions already taken on this (cached) policy, per method ARN.
    _decisions: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def decision(self, method_arn: str, evaluate: Callable[[Mapping[str, Any], str], Any]) -> Any:
        """``evaluate(policy, method_arn)``, computed once per ARN for this result."""
        known = self._decisions.get(method_arn)
        if known is None:
            known = self._decisions[method_arn] = evaluate(self.policy_document, method_arn)
            if len(self._decisions) > DECISIONS_KEPT:
                self._decisions.pop(next(iter(self._decisions)))
        return known

    def request_context_authorizer(self, integration_latency_ms: int) -> dict[str, Any]:
        """``requestContext.authorizer`` of the integration event: context values, principalId, latency."""
        out: dict[str, Any] = dict(self.context)
        if self.principal_id is not None:
            out["principalId"] = self.principal_id
        out["integrationLatency"] = integration_latency_ms
        return out


def identity_values(
    authorizer: AuthorizerSpec,
    request: RequestView,
    stage_variables: Mapping[str, str],
) -> tuple[tuple[str, ...], bool]:
    """(values of the identity sources in order, whether every one is present and non-empty)."""
    values: list[str] = []
    complete = True
    for source in authorizer.identity_sources:
        value = _identity_value(source, request, stage_variables)
        if not value:
            complete = False
            value = ""
        values.append(value)
    return tuple(values), complete


_SOURCE_PREFIXES = ("method.request.header.", "method.request.querystring.", "stageVariables.")
_CONTEXT_SOURCES = ("context.identity.sourceIp", "context.httpMethod")


def check_identity_source(source: str) -> None:
    """Refuse, when the API is read, an identity source this gateway cannot resolve."""
    if source in _CONTEXT_SOURCES:
        return
    if any(source.startswith(prefix) and len(source) > len(prefix) for prefix in _SOURCE_PREFIXES):
        return
    raise ValueError(f"authorizer identity source {source!r} is not supported on this target")


def _identity_value(source: str, request: RequestView, stage_variables: Mapping[str, str]) -> str | None:
    if source.startswith("method.request.header."):
        return request.header(source[len("method.request.header.") :])
    if source.startswith("method.request.querystring."):
        return (request.query or {}).get(source[len("method.request.querystring.") :])
    if source.startswith("stageVariables."):
        return stage_variables.get(source[len("stageVariables.") :])
    if source == "context.identity.sourceIp":
        return request.source_ip
    if source == "context.httpMethod":
        return request.http_method
    raise ValueError(f"identity source {source!r} is not supported on this target")


def token_is_valid(authorizer: AuthorizerSpec, token: str) -> bool:
    """A TOKEN authorizer's ``identityValidationExpression``, when set, must match the whole token."""
    expression = authorizer.identity_validation_expression
    if not expression:
        return True
    return re.fullmatch(expression, token) is not None


def _stringify(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    # API Gateway refuses nested objects and arrays in the context map.
    raise AuthorizerConfigurationError(f"authorizer context value {key!r} is not a string, number or boolean")


def read_authorizer_output(output: Any) -> AuthorizerResult:
    """The authorizer function's return value → :class:`AuthorizerResult`."""
    if isinstance(output, (str, bytes)):
        try:
            output = json.loads(output)
        except ValueError as exc:
            raise AuthorizerConfigurationError("authorizer output is not JSON") from exc
    if not isinstance(output, Mapping):
        raise AuthorizerConfigurationError("authorizer output is not an object")
    policy = output.get("policyDocument")
    if not isinstance(policy, Mapping):
        raise AuthorizerConfigurationError("authorizer output has no policyDocument object")
    principal = output.get("principalId")
    raw_context = output.get("context") or {}
    if not isinstance(raw_context, Mapping):
        raise AuthorizerConfigurationError("authorizer context is not an object")
    context: dict[str, str] = {}
    for key, value in raw_context.items():
        text = _stringify(str(key), value)
        if text is not None:
            context[str(key)] = text
    return AuthorizerResult(
        principal_id=None if principal is None else str(principal),
        policy_document=policy,
        context=context,
    )


class AuthorizerCache:
    """Results per (authorizer, identity values), each kept for the authorizer's TTL."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = CACHE_MAX_ENTRIES) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, tuple[str, ...]], tuple[float, AuthorizerResult]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, authorizer_id: str, identity: tuple[str, ...]) -> AuthorizerResult | None:
        key = (authorizer_id, identity)
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        expires, result = entry
        if expires <= self._clock():
            del self._entries[key]
            self.misses += 1
            return None
        self.hits += 1
        return result

    def put(self, authorizer_id: str, identity: tuple[str, ...], result: AuthorizerResult, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        key = (authorizer_id, identity)
        self._entries[key] = (self._clock() + ttl_s, result)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
