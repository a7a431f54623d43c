"""The partner simulator's process: routing to each API under its faults, the control routes,
and the lifecycle (listen on 127.0.0.1, ready file, SIGTERM/SIGINT stop it cleanly).

The HTTP/1.1 framing is the gateway's own (``stack/embedded/gateway/http_server.py``). One event
loop serves everything, so each API's effect and its records are written without a lock: a
request's effect is applied before its first ``await`` (the latency), in order of arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stack.embedded.gateway.http_server import (
    ConnectionLimiter,
    HttpLimits,
    HttpRequest,
    HttpResponse,
    HttpServerProtocol,
    error_response,
)
from stack.embedded.processes import watch_parent, write_json_atomically
from stack.errors import HookstackError
from stack.partner.accounting import Accounting
from stack.partner.answers import Refused, json_object, json_response
from stack.partner.callbacks import CallbackReceiver, CallbackSecretError
from stack.partner.faults import FaultBoard, FaultDecision, FaultError, FaultSettings
from stack.partner.payments import Payments
from stack.partner.records import API_NAMES, ApiName, Moment, PartnerClock
from stack.partner.trickle import TRICKLE_METHODS, Trickle

log = logging.getLogger("stack.partner")

HOST = "127.0.0.1"
CONTROL = "_partner"
MAX_BODY_BYTES = 10 * 1024 * 1024


class PartnerStartError(HookstackError):
    """The partner could not listen (the port is taken)."""


@dataclass(frozen=True, slots=True)
class RequestLine:
    """One request to a partner API, as the live view prints it."""

    received_at: int  # epoch ms
    api: ApiName
    method: str
    path: str
    status: int
    verified: bool | None  # callbacks only

    def describe(self) -> str:
        moment = dt.datetime.fromtimestamp(self.received_at / 1000).strftime("%H:%M:%S.%f")[:-3]
        verdict = "" if self.verified is None else ("  verified" if self.verified else "  NOT verified")
        return f"{moment}  {self.api:<10} {self.status}  {self.method} {self.path}{verdict}"


Observer = Callable[[RequestLine], None]


@dataclass(frozen=True)
class PartnerOptions:
    port: int = 0  # 0: a free port
    callback_secrets: Mapping[str, str] = field(default_factory=dict)  # tenant → whsec_ secret
    faults: Mapping[ApiName, FaultSettings] = field(default_factory=dict)  # at start and after reset
    ready_file: Path | None = None  # {"url", "port", "pid"} once listening
    exit_with_parent: bool = False


ApiCall = Callable[[HttpRequest, Moment, FaultDecision], tuple[HttpResponse, bool | None]]


class Partner:
    """Every API's state, and the routing of one request to it."""

    def __init__(
        self, options: PartnerOptions, clock: PartnerClock | None = None, observer: Observer | None = None
    ) -> None:
        self.clock = clock or PartnerClock()
        self.faults = FaultBoard(dict(options.faults), self.clock.now().at_ns)
        self.callbacks = CallbackReceiver(dict(options.callback_secrets))
        self.accounting = Accounting()
        self.payments = Payments()
        self.trickle = Trickle()
        self._observer = observer

    # --- the HTTP server's hooks ---

    def too_large(self) -> HttpResponse:
        return error_response(413, "Request Too Long")

    def internal_error(self, exc: BaseException) -> HttpResponse:
        return error_response(500, "Internal Server Error")

    async def handle(self, request: HttpRequest) -> HttpResponse:
        segments = tuple(request.path.strip("/").split("/"))
        if segments[0] == CONTROL:
            try:
                return self._control(request.method, segments[1:], request)
            except Refused as refusal:
                return refusal.response()
        routed = self._route(request.method, segments)
        if isinstance(routed, HttpResponse):
            return routed
        api, call = routed
        moment = self.clock.now()
        decision = self.faults[api].decide(moment.at_ns)
        response, verified = call(request, moment, decision)
        if decision.latency_s > 0:
            await asyncio.sleep(decision.latency_s)
        if self._observer is not None:
            self._observer(
                RequestLine(moment.received_at, api, request.method, request.path, response.status, verified)
            )
        return response

    # --- partner APIs ---

    def _route(self, method: str, segments: tuple[str, ...]) -> tuple[ApiName, ApiCall] | HttpResponse:
        match segments:
            case ("callbacks", tenant):
                if method != "POST":
                    return _not_allowed("POST")

                def callback(
                    request: HttpRequest, moment: Moment, decision: FaultDecision
                ) -> tuple[HttpResponse, bool | None]:
                    response, record = self.callbacks.serve(tenant, request, moment, decision)
                    return response, record.verified

                return "callbacks", callback
            case ("accounting", "invoices"):
                if method != "POST":
                    return _not_allowed("POST")
                return "accounting", _effect(self.accounting.serve)
            case ("payments", "charges" | "refunds" as kind):
                if method != "POST":
                    return _not_allowed("POST")
                return "payments", _effect(self.payments.charge if kind == "charges" else self.payments.refund)
            case ("trickle", _, *_):
                if method not in TRICKLE_METHODS:
                    return _not_allowed(*TRICKLE_METHODS)

                def trickle(
                    request: HttpRequest, moment: Moment, decision: FaultDecision
                ) -> tuple[HttpResponse, bool | None]:
                    return self.trickle.serve(request, moment, decision, self.faults["trickle"].settings), None

                return "trickle", trickle
        return error_response(404, "Not Found")

    # --- control routes ---

    def _control(self, method: str, segments: tuple[str, ...], request: HttpRequest) -> HttpResponse:
        match segments:
            case ("health",):
                if method != "GET":
                    return _not_allowed("GET")
                return json_response(200, {"status": "ok", "pid": os.getpid(), "apis": list(API_NAMES)})
            case ("records", api):
                if method != "GET":
                    return _not_allowed("GET")
                return self._records(api)
            case ("faults",):
                if method == "GET":
                    return self._faults_answer()
                if method != "POST":
                    return _not_allowed("GET", "POST")
                try:
                    self.faults.update(json_object(request), self.clock.now().at_ns)
                except FaultError as exc:
                    return error_response(400, str(exc))
                return self._faults_answer()
            case ("reset",):
                if method != "POST":
                    return _not_allowed("POST")
                self.reset()
                return json_response(200, {"reset": True})
            case ("callback-secrets",):
                if method != "GET":
                    return _not_allowed("GET")
                return json_response(200, {"tenants": sorted(self.callbacks.secrets)})
            case ("callback-secrets", tenant):
                if method != "PUT":
                    return _not_allowed("PUT")
                secret = json_object(request).get("secret")
                if not isinstance(secret, str):
                    return error_response(400, 'expected {"secret": "whsec_..."}')
                try:
                    self.callbacks.set_secret(tenant, secret)
                except CallbackSecretError as exc:
                    return error_response(400, str(exc))
                return json_response(200, {"tenant": tenant})
        return error_response(404, "Not Found")

    def _records(self, api: str) -> HttpResponse:
        records = {
            "callbacks": self.callbacks.records,
            "accounting": self.accounting.records,
            "payments": self.payments.records,
            "trickle": self.trickle.records,
        }.get(api)
        if records is None:
            return error_response(404, f"no API {api!r}: one of {', '.join(API_NAMES)}")
        return json_response(200, records().model_dump(mode="json"))

    def _faults_answer(self) -> HttpResponse:
        return json_response(200, {api: s.model_dump(mode="json") for api, s in self.faults.settings().items()})

    def reset(self) -> None:
        """Every record and idempotency key gone, the faults back to the start-up ones; the
        callback secrets stay."""
        self.callbacks.reset()
        self.accounting.reset()
        self.payments.reset()
        self.trickle.reset()
        self.faults.reset(self.clock.now().at_ns)


def _effect(serve: Callable[[HttpRequest, Moment, FaultDecision], HttpResponse]) -> ApiCall:
    return lambda request, moment, decision: (serve(request, moment, decision), None)


def _not_allowed(*methods: str) -> HttpResponse:
    return error_response(405, "Method Not Allowed", (("Allow", ", ".join(methods)),))


# --- lifecycle ---


async def serve(
    options: PartnerOptions, observer: Observer | None = None, on_listening: Callable[[str], None] | None = None
) -> None:
    """Listen on 127.0.0.1 until SIGTERM or SIGINT (or the parent goes, with ``exit_with_parent``)."""
    loop = asyncio.get_running_loop()
    partner = Partner(options, observer=observer)
    limiter = ConnectionLimiter(HttpLimits())

    def connection() -> HttpServerProtocol:
        return HttpServerProtocol(partner.handle, MAX_BODY_BYTES, partner.too_large, partner.internal_error, limiter)

    try:
        server = await loop.create_server(connection, HOST, options.port, reuse_address=True)
    except OSError as exc:
        raise PartnerStartError(f"cannot listen on {HOST}:{options.port}: {exc.strerror or exc}") from None
    port = server.sockets[0].getsockname()[1]
    url = f"http://{HOST}:{port}"
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = loop.create_task(watch_parent(stop, log)) if options.exit_with_parent else None
    if options.ready_file is not None:
        write_json_atomically(options.ready_file, {"url": url, "port": port, "pid": os.getpid()})
    log.info("partner simulator listening at %s", url)
    if on_listening is not None:
        on_listening(url)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if watcher is not None:
            watcher.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        server.close()
        if options.ready_file is not None:
            with contextlib.suppress(FileNotFoundError):
                options.ready_file.unlink()


def run(
    options: PartnerOptions, observer: Observer | None = None, on_listening: Callable[[str], None] | None = None
) -> None:
    asyncio.run(serve(options, observer, on_listening))
