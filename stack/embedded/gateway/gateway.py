"""The request pipeline of the embedded REST API: what API Gateway does between client and Lambda.

Order, per request: payload limit (in the HTTP layer) → stage → route (resource + method)
→ Lambda authorizer (cached per identity) → stage throttling → Lambda proxy integration
(within the integration timeout) → the function's proxy response.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from stack.embedded.gateway import gateway_responses as responses
from stack.embedded.gateway.authorizer import (
    AuthorizerCache,
    AuthorizerConfigurationError,
    AuthorizerResult,
    identity_values,
    read_authorizer_output,
    token_is_valid,
)
from stack.embedded.gateway.definition import (
    MAX_INTEGRATION_TIMEOUT_MS,
    ApiSpec,
    AuthorizerSpec,
    MethodSpec,
    ResourceSpec,
)
from stack.embedded.gateway.gateway_responses import GatewayResponse
from stack.embedded.gateway.http_server import HttpRequest, HttpResponse
from stack.embedded.gateway.policy import Decision, PolicyError, evaluate, method_arn
from stack.embedded.gateway.pool import FailureKind, FunctionPool, InvocationFailed, InvocationResult
from stack.embedded.gateway.proxy_event import (
    MalformedProxyResponse,
    RequestView,
    build_proxy_event,
    build_request_authorizer_event,
    build_request_context,
    build_token_authorizer_event,
    merge_headers,
    parse_proxy_response,
    parse_query,
)
from stack.embedded.gateway.recent import RecentAnswers
from stack.embedded.gateway.request_validation import BodyValidator
from stack.embedded.gateway.routing import RouteTable
from stack.embedded.gateway.throttling import StageThrottle

log = logging.getLogger("stack.embedded.gateway")

STATS_PATH = "/_hookstack/stats"
# Response headers of a function that API Gateway renames to x-amzn-Remapped-<name>.
_REMAPPED = frozenset(
    {
        "authorization",
        "connection",
        "content-length",
        "date",
        "keep-alive",
        "proxy-authenticate",
        "server",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "www-authenticate",
    }
)


async def wait_until(future: asyncio.Future[Any], timeout_s: float) -> bool:
    """Wait for ``future`` at most ``timeout_s``; False on expiry. The future itself is left alone."""
    if future.done():
        return True
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[bool] = loop.create_future()

    def done(_: asyncio.Future[Any]) -> None:
        if not waiter.done():
            waiter.set_result(True)

    def expire() -> None:
        if not waiter.done():
            waiter.set_result(False)

    future.add_done_callback(done)
    timer = loop.call_later(timeout_s, expire)
    try:
        return await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(done)


# Ids need uniqueness, not secrecy: a PRNG instead of a getrandom(2) call per id.
_random = random.Random()
_encode_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def new_request_id() -> str:
    """A version-4 UUID string."""
    n = (_random.getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _extended_request_id() -> str:
    return base64.b64encode(_random.randbytes(11)).decode()


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{_random.getrandbits(96):024x}"


class Gateway:
    """Serves one stage of one deployed REST API over the function pools."""

    def __init__(self, api: ApiSpec, pools: Mapping[str, FunctionPool]) -> None:
        self.api = api
        self.pools = dict(pools)
        self.stage = api.stage.name
        self.routes: RouteTable[ResourceSpec] = RouteTable((r.path, r.methods.keys(), r) for r in api.resources)
        self.throttle = StageThrottle(api.stage.throttling)
        # Per (resource path, verb): the request validator of methods that validate bodies.
        self.body_validators = {
            (resource.path, verb): BodyValidator(method.body_models, f"{verb} {resource.path}")
            for resource in api.resources
            for verb, method in resource.methods.items()
            if method.body_models
        }
        self.body_refusals = 0
        self.authorizer_cache = AuthorizerCache()
        self.max_request_bytes = api.stage.max_request_bytes
        self.statuses: Counter[int] = Counter()
        self.recent = RecentAnswers()  # the stage's answers of the last seconds (not the stats path's)
        self.authorizer_invocations: Counter[str] = Counter()
        # The event plane's last figures, when this data plane also serves the stack's mappings.
        self.event_plane_stats: Callable[[], dict[str, Any] | None] | None = None

    # --- entry points ---

    async def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = await self._handle(request)
        self.statuses[response.status] += 1
        if request.path != STATS_PATH:
            self.recent.record(response.status, (time.perf_counter() - started) * 1000)
        return response

    def too_large(self) -> HttpResponse:
        self.statuses[responses.REQUEST_TOO_LARGE.status] += 1
        return self._gateway_response(responses.REQUEST_TOO_LARGE, new_request_id())

    def internal_error(self, exc: BaseException) -> HttpResponse:
        return self._gateway_response(responses.INTERNAL_SERVER_ERROR, new_request_id())

    def stats(self) -> dict[str, Any]:
        return {
            "api": {"id": self.api.id, "name": self.api.name, "stage": self.stage},
            "functions": {label: pool.snapshot() for label, pool in self.pools.items()},
            "authorizers": {
                "cache_entries": len(self.authorizer_cache),
                "cache_hits": self.authorizer_cache.hits,
                "cache_misses": self.authorizer_cache.misses,
                "invocations": dict(self.authorizer_invocations),
            },
            "responses": {str(k): v for k, v in sorted(self.statuses.items())},
            "recent": self.recent.snapshot(),
            "request_validation": {"methods": len(self.body_validators), "refused": self.body_refusals},
            "event_plane": self.event_plane_stats() if self.event_plane_stats is not None else None,
        }

    # --- pipeline ---

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.path == STATS_PATH:
            if request.method not in ("GET", "HEAD"):
                return HttpResponse(405, [("Allow", "GET, HEAD")], b"")
            body = json.dumps(self.stats(), indent=1).encode()
            return HttpResponse(200, [("Content-Type", "application/json")], body)
        request_id = new_request_id()
        stage, _, rest = request.path.lstrip("/").partition("/")
        if stage != self.stage:
            return self._gateway_response(responses.STAGE_FORBIDDEN, request_id)
        raw_path = "/" + rest
        match = self.routes.match(raw_path, request.method)
        if match is None:
            return self._gateway_response(responses.MISSING_AUTHENTICATION_TOKEN, request_id)
        resource = match.resource
        method = resource.methods[match.http_method]

        view = self._view(request, raw_path)
        epoch_ms = int(time.time() * 1000)
        extended_id = _extended_request_id()
        context = build_request_context(
            request=view,
            account_id=self.api.account_id,
            api_id=self.api.id,
            stage=self.stage,
            resource_id=resource.id,
            resource_path=resource.path,
            request_id=request_id,
            extended_request_id=extended_id,
            epoch_ms=epoch_ms,
            domain_name=request.header("Host") or f"127.0.0.1:{request.local_port}",
        )

        authorizer_context: dict[str, Any] | None = None
        if method.authorization_type == "CUSTOM":
            outcome = await self._authorize(method, resource, match.path_parameters, view, context, request_id)
            if isinstance(outcome, GatewayResponse):
                return self._gateway_response(outcome, request_id, extended_id)
            authorizer_context = outcome

        if not self.throttle.allow(resource.path, method.http_method):
            return self._gateway_response(responses.THROTTLED, request_id, extended_id)

        validator = self.body_validators.get((resource.path, method.http_method))
        refusal = validator.refusal(request.header("Content-Type"), request.body) if validator else None
        if refusal is not None:
            self.body_refusals += 1
            return self._gateway_response(refusal, request_id, extended_id)

        event = build_proxy_event(
            request=view,
            resource_path=resource.path,
            path_parameters=match.path_parameters,
            stage_variables=self.api.stage.variables,
            request_context=context,
            authorizer=authorizer_context,
            binary_media_types=self.api.binary_media_types,
        )
        trace_id = view.header("X-Amzn-Trace-Id") or _trace_id()
        return await self._integrate(method, event, request, request_id, extended_id, trace_id)

    def _view(self, request: HttpRequest, raw_path: str) -> RequestView:
        forwarded = request.header("X-Forwarded-For")
        raw_headers = [(k, v) for k, v in request.headers if k.lower() != "x-forwarded-for"]
        raw_headers += [
            ("X-Forwarded-For", f"{forwarded}, {request.client_ip}" if forwarded else request.client_ip),
            ("X-Forwarded-Port", str(request.local_port)),
            ("X-Forwarded-Proto", "http"),
        ]
        if request.header("X-Amzn-Trace-Id") is None:
            raw_headers.append(("X-Amzn-Trace-Id", _trace_id()))
        headers, multi_headers = merge_headers(raw_headers)
        query, multi_query = parse_query(request.query)
        return RequestView(
            http_method=request.method,
            path=unquote(raw_path),
            headers=headers,
            multi_value_headers=multi_headers,
            query=query,
            multi_value_query=multi_query,
            body=request.body,
            source_ip=request.client_ip,
        )

    async def _authorize(
        self,
        method: MethodSpec,
        resource: ResourceSpec,
        path_parameters: Mapping[str, str],
        view: RequestView,
        context: Mapping[str, Any],
        request_id: str,
    ) -> dict[str, Any] | GatewayResponse:
        authorizer = self.api.authorizers[method.authorizer_id or ""]
        arn = method_arn(self.api.region, self.api.account_id, self.api.id, self.stage, view.http_method, view.path)
        if authorizer.type == "TOKEN":
            token = view.header(authorizer.identity_sources[0].removeprefix("method.request.header."))
            if not token or not token_is_valid(authorizer, token):
                return responses.UNAUTHORIZED
            identity: tuple[str, ...] = (token,)
        else:
            identity, complete = identity_values(authorizer, view, self.api.stage.variables)
            # With caching on, every identity source must be present; no call otherwise.
            if authorizer.ttl_s > 0 and authorizer.identity_sources and not complete:
                return responses.UNAUTHORIZED

        result = self.authorizer_cache.get(authorizer.id, identity) if authorizer.ttl_s > 0 else None
        latency_ms = 0
        if result is None:
            if authorizer.type == "TOKEN":
                event = build_token_authorizer_event(token=identity[0], method_arn=arn)
            else:
                event = build_request_authorizer_event(
                    request=view,
                    method_arn=arn,
                    resource_path=resource.path,
                    path_parameters=path_parameters,
                    stage_variables=self.api.stage.variables,
                    request_context=context,
                )
            started = time.perf_counter()
            outcome = await self._call_authorizer(authorizer, event, request_id)
            if isinstance(outcome, GatewayResponse):
                return outcome
            result = outcome
            latency_ms = int((time.perf_counter() - started) * 1000)
            self.authorizer_cache.put(authorizer.id, identity, result, authorizer.ttl_s)
        try:
            decision = result.decision(arn, evaluate)
        except PolicyError as exc:
            log.warning("request %s: authorizer %s returned an invalid policy: %s", request_id, authorizer.name, exc)
            return responses.AUTHORIZER_CONFIGURATION_ERROR
        if decision is Decision.EXPLICIT_DENY:
            return responses.ACCESS_DENIED_EXPLICIT
        if decision is Decision.IMPLICIT_DENY:
            return responses.ACCESS_DENIED
        return result.request_context_authorizer(latency_ms)

    async def _call_authorizer(
        self, authorizer: AuthorizerSpec, event: dict[str, Any], request_id: str
    ) -> AuthorizerResult | GatewayResponse:
        self.authorizer_invocations[authorizer.name] += 1
        try:
            result = await self._invoke(authorizer.function_name, event, MAX_INTEGRATION_TIMEOUT_MS / 1000)
        except InvocationFailed as exc:
            log.warning("request %s: authorizer %s failed: %s (%s)", request_id, authorizer.name, exc, exc.kind)
            return responses.AUTHORIZER_FAILURE
        if result is None:
            log.warning("request %s: authorizer %s did not answer in time", request_id, authorizer.name)
            return responses.AUTHORIZER_FAILURE
        if not result.ok:
            message = (result.error or {}).get("errorMessage")
            if message == "Unauthorized":
                return responses.UNAUTHORIZED
            log.warning("request %s: authorizer %s raised %s", request_id, authorizer.name, result.error)
            return responses.AUTHORIZER_FAILURE
        try:
            return read_authorizer_output(result.payload)
        except AuthorizerConfigurationError as exc:
            log.warning("request %s: authorizer %s: %s", request_id, authorizer.name, exc)
            return responses.AUTHORIZER_CONFIGURATION_ERROR

    async def _integrate(
        self,
        method: MethodSpec,
        event: dict[str, Any],
        request: HttpRequest,
        request_id: str,
        extended_id: str,
        trace_id: str,
    ) -> HttpResponse:
        try:
            result = await self._invoke(method.function_name, event, method.integration_timeout_ms / 1000)
        except InvocationFailed as exc:
            log.warning("request %s: %s invocation failed: %s (%s)", request_id, method.function_name, exc, exc.kind)
            # Lambda refusing the invoke is API Gateway's 500; a failed invocation its 502.
            refused = exc.kind in (FailureKind.THROTTLED, FailureKind.PAYLOAD)
            failure = responses.INTERNAL_SERVER_ERROR if refused else responses.INTEGRATION_FAILURE
            return self._gateway_response(failure, request_id, extended_id)
        if result is None:
            return self._gateway_response(responses.INTEGRATION_TIMEOUT, request_id, extended_id)
        if not result.ok:
            error_type = (result.error or {}).get("errorType")
            log.warning("request %s: %s raised %s", request_id, method.function_name, error_type)
            return self._gateway_response(responses.INTEGRATION_FAILURE, request_id, extended_id)
        try:
            proxy = parse_proxy_response(result.payload, request.header("Accept"), self.api.binary_media_types)
        except MalformedProxyResponse as exc:
            log.warning("request %s: malformed Lambda proxy response: %s", request_id, exc)
            return self._gateway_response(responses.INTEGRATION_FAILURE, request_id, extended_id)
        headers = [
            (f"x-amzn-Remapped-{name}" if name.lower() in _REMAPPED else name, value) for name, value in proxy.headers
        ]
        headers += [("x-amzn-RequestId", request_id), ("x-amz-apigw-id", extended_id), ("X-Amzn-Trace-Id", trace_id)]
        return HttpResponse(proxy.status, headers, proxy.body)

    async def _invoke(self, function_label: str, event: dict[str, Any], budget_s: float) -> InvocationResult | None:
        """Invoke through the function's pool; None when ``budget_s`` ran out first (the invocation goes on)."""
        pool = self.pools[function_label]
        payload = _encode_json(event).encode()
        invocation = pool.submit(new_request_id(), payload)
        if not await wait_until(invocation.future, budget_s):
            invocation.abandon()
            return None
        return invocation.future.result()

    def _gateway_response(
        self, response: GatewayResponse, request_id: str, extended_id: str | None = None
    ) -> HttpResponse:
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
        if response.error_type:
            headers.append(("x-amzn-ErrorType", response.error_type))
        if extended_id:
            headers.append(("x-amz-apigw-id", extended_id))
        return HttpResponse(response.status, headers, response.body)
