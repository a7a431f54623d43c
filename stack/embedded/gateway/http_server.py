"""A small HTTP/1.1 server protocol for asyncio: keep-alive, Content-Length and chunked bodies,
and the limits a front end facing the internet needs (docs/gateway.md, "HTTP limits").

Only what an API Gateway front end needs: one request at a time per connection (pipelined
requests are answered in order), a hard body limit checked before the body is read (413
and close), ``Expect: 100-continue``, and responses with Content-Length.

Strict framing: a request another parser could read differently is refused 400, never guessed
at — one Content-Length or ``Transfer-Encoding: chunked`` (nothing else), never both; chunk sizes
in plain hex, each chunk closed by CRLF; origin-form targets; token header names (no obs-fold);
no control characters or bare CR/LF in the head; one Host on HTTP/1.1.

Every phase of a connection has a deadline (``HttpLimits``): the head must arrive within
``header_timeout_s`` and the body within ``body_timeout_s`` (else 408 and close), an idle
keep-alive connection is closed after ``keep_alive_timeout_s``, and a client that stops reading
its answers is dropped after ``send_timeout_s``. One sweep per server checks the deadlines (no
timer per request). Beyond ``max_connections`` a new connection is answered 503 and closed.
Every close after an error answer is a lingering one: the answer is flushed, the write side
shut, and what the client still sends is read and dropped for ``linger_s``, so the client reads
the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from email.utils import formatdate
from http import HTTPStatus
from typing import cast

log = logging.getLogger("stack.embedded.gateway.http")

# The most of an unfinished head kept in memory, whatever the limits below allow.
MAX_HEAD_BUFFER_BYTES = 64 * 1024
# Pause reading while a request is being served and this much is already buffered.
READ_HIGH_WATER = 1024 * 1024
# A chunk-size line (size plus extensions) and a trailer section, at most.
MAX_CHUNK_LINE_BYTES = 4096
MAX_TRAILER_BYTES = 16 * 1024
# Refusals at the connection cap are logged at most this often (a flood must not flood the log).
REFUSAL_LOG_INTERVAL_S = 10.0

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
# Every byte but the control characters other than HTAB: deleting them from a head (its CRLF line
# ends removed first) leaves the bad bytes, a bare CR or LF included (a table lookup per byte).
_NOT_CONTROL = bytes(byte for byte in range(256) if byte == 0x09 or 0x20 <= byte != 0x7F)


def _has_control_characters(head: bytes) -> bool:
    return bool(head.replace(b"\r\n", b"").translate(None, _NOT_CONTROL))


_TRAILER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _valid_trailers(section: bytes) -> bool:
    """Every trailer line a header field (token, colon): anything else — a request line smuggled
    after the last chunk, obs-fold — is refused, never read as trailers (they are dropped)."""
    if _has_control_characters(section):
        return False
    for line in section.split(b"\r\n"):
        name, colon, _ = line.partition(b":")
        if not colon or not _TRAILER_NAME.fullmatch(name):
            return False
    return True


# origin-form: an absolute path and query, visible ASCII only (a URI is ASCII; clients percent-encode).
_ORIGIN_FORM = re.compile(r"/[\x21-\x7e]*")
_DIGITS = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The front end's limits; each is a ``python -m stack.embedded.gateway`` option."""

    header_timeout_s: float = 10.0  # connection open / first byte of a request → end of its head
    body_timeout_s: float = 30.0  # end of the head → end of the body
    keep_alive_timeout_s: float = 60.0  # idle between requests
    send_timeout_s: float = 30.0  # a client not reading its answers
    linger_s: float = 2.0  # reading and dropping input after an error answer, before closing
    max_connections: int = 1000
    max_request_line_bytes: int = 8192  # 414 above it
    max_header_line_bytes: int = 8192  # one header line; 431 above it
    max_header_count: int = 100  # 431 above it
    max_header_bytes: int = 10_240  # request line + header values, as API Gateway counts them; 431

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{spec.name} must be a positive number, not {value!r}")

    def sweep_interval_s(self) -> float:
        """How often deadlines are checked: a quarter of the shortest, between 10 ms and 1 s."""
        shortest = min(
            self.header_timeout_s, self.body_timeout_s, self.keep_alive_timeout_s, self.send_timeout_s, self.linger_s
        )
        return min(1.0, max(0.01, shortest / 4))


@dataclass(slots=True)
class HttpRequest:
    method: str
    target: str
    path: str  # raw, percent-encoded, without the query
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str
    local_port: int
    http_version: str
    keep_alive: bool = True

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == lowered:
                found = value
        return found


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class BadRequest(Exception):
    """The request cannot be served as sent; ``status`` and the message are its answer (then close)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _DateCache:
    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = formatdate(second, usegmt=True)
        return self._value


_date = _DateCache()


def _clean(value: str) -> str:
    # Header values come from functions: never let them break the framing.
    if "\r" in value or "\n" in value:
        return value.replace("\r", " ").replace("\n", " ")
    return value


def encode_response(response: HttpResponse, keep_alive: bool, head_only: bool = False) -> bytes:
    reason = _REASONS.get(response.status, "Unknown")
    lines = [f"HTTP/1.1 {response.status} {reason}\r\nDate: {_date.now()}\r\n"]
    for name, value in response.headers:
        lines.append(f"{name}: {_clean(value)}\r\n")
    lines.append(f"Content-Length: {len(response.body)}\r\n")
    lines.append("Connection: keep-alive\r\n\r\n" if keep_alive else "Connection: close\r\n\r\n")
    head = "".join(lines).encode("latin-1", "replace")
    return head if head_only else head + response.body


def error_response(status: int, message: str, extra_headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    """The front end's own answers (no route, no function): ``{"message": ...}`` as JSON."""
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, [("Content-Type", "application/json"), *extra_headers], body)


class _Phase(enum.Enum):
    IDLE = "idle"  # between requests: no byte of the next one yet
    HEAD = "head"  # part of a head received
    BODY = "body"  # head parsed, body still arriving
    BUSY = "busy"  # the handler is serving a request: no deadline (the integration timeout rules)
    LINGER = "linger"  # answered and closing: input is read and dropped


class ConnectionLimiter:
    """The connections of one server: the cap, the deadline sweep, and counters for the log."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.active = 0  # admitted connections still open (counted against the cap)
        self.refusing = 0  # refused connections still lingering
        self.refused = 0
        self.timed_out = 0
        self._tracked: set[HttpServerProtocol] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._warned_at = -math.inf

    def admit(self, protocol: HttpServerProtocol) -> bool:
        self._track(protocol)
        if self.active >= self.limits.max_connections:
            self.refused += 1
            self.refusing += 1
            now = time.monotonic()
            if now - self._warned_at >= REFUSAL_LOG_INTERVAL_S:
                self._warned_at = now
                log.warning(
                    "%d connections open, the cap: new ones are answered 503 (%d refused so far)",
                    self.active,
                    self.refused,
                )
            return False
        self.active += 1
        return True

    def release(self, protocol: HttpServerProtocol, admitted: bool) -> None:
        self._tracked.discard(protocol)
        if admitted:
            self.active -= 1
        else:
            self.refusing -= 1

    def _track(self, protocol: HttpServerProtocol) -> None:
        self._tracked.add(protocol)
        if self._sweep is None:
            loop = asyncio.get_running_loop()
            self._sweep = loop.call_later(self.limits.sweep_interval_s(), self._check_deadlines)

    def _check_deadlines(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        try:
            for protocol in list(self._tracked):
                try:
                    protocol.check_deadline(now)
                except Exception:  # noqa: BLE001 - one connection's failure must not stop every deadline
                    log.exception("deadline check failed; closing that connection")
                    protocol.abort()
        finally:
            self._sweep = (
                loop.call_later(self.limits.sweep_interval_s(), self._check_deadlines) if self._tracked else None
            )


class HttpServerProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(
        self,
        handler: Handler,
        max_body_bytes: int,
        too_large: Callable[[], HttpResponse],
        on_error: Callable[[BaseException], HttpResponse],
        limiter: ConnectionLimiter | None = None,
    ) -> None:
        self._handler = handler
        self._max_body = max_body_bytes
        self._too_large = too_large
        self._on_error = on_error
        self._limiter = limiter or ConnectionLimiter(HttpLimits())
        self._limits = self._limiter.limits
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._client_ip = ""
        self._local_port = 0
        self._admitted = False
        self._closed = False
        self._read_paused = False
        self._write_paused_at: float | None = None
        self._eof = False
        self._phase = _Phase.IDLE
        self._deadline = math.inf
        self._waiting_keep_alive = False  # IDLE after an answer (else: before the first request)
        self._loop: asyncio.AbstractEventLoop | None = None
        # Parsed head awaiting its body.
        self._head: tuple[str, str, str, list[tuple[str, str]], bool] | None = None
        self._body_length: int | None = None  # None with a head: chunked
        self._chunks: bytearray | None = None

    # --- asyncio callbacks ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # create_server: a stream transport
        self._loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self._client_ip = peer[0] if peer else "127.0.0.1"
        self._local_port = sock[1] if sock else 0
        self._admitted = self._limiter.admit(self)
        if not self._admitted:
            if self._limiter.refusing > self._limits.max_connections:
                # A flood beyond twice the cap: drop at once rather than hold a socket per refusal.
                self._closed = True
                self._transport.abort()
                return
            self._answer_and_close(error_response(503, "Service Unavailable", (("Retry-After", "1"),)))
            return
        # The first request's head is due header_timeout_s after the connection opens.
        self._deadline = self._loop.time() + self._limits.header_timeout_s

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._limiter.release(self, self._admitted)

    def pause_writing(self) -> None:
        assert self._loop is not None
        self._write_paused_at = self._loop.time()

    def resume_writing(self) -> None:
        self._write_paused_at = None
        if self._phase is _Phase.BUSY or self._closed or self._transport is None:
            return
        if self._read_paused:
            self._read_paused = False
            self._transport.resume_reading()
        if self._phase is not _Phase.LINGER and self._buffer:
            self._advance()

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._phase is _Phase.BUSY:
            return True  # answer the request being served (a client may half-close after it), then close
        if self._phase is not _Phase.LINGER and self._buffer and self._write_paused_at is None:
            self._advance()  # a request sent in full just before the half-close
            if self._phase is _Phase.BUSY:
                return True
        return None  # the transport closes itself

    def data_received(self, data: bytes) -> None:
        if self._phase is _Phase.LINGER or self._closed:
            return  # closing: dropped
        self._buffer += data
        # Serving, or the client is not reading its answers: buffer (bounded), serve nothing more yet.
        if self._phase is _Phase.BUSY or self._write_paused_at is not None:
            if len(self._buffer) > READ_HIGH_WATER and not self._read_paused and self._transport:
                self._transport.pause_reading()
                self._read_paused = True
            return
        self._advance()

    # --- deadlines ---

    def check_deadline(self, now: float) -> None:
        """Called by the sweep: act on a passed deadline (the phase says which)."""
        if self._closed or self._transport is None:
            return
        if self._write_paused_at is not None and now - self._write_paused_at > self._limits.send_timeout_s:
            self._limiter.timed_out += 1
            self.abort()  # a close would wait for the unread answers to flush: forever
            return
        if now < self._deadline:
            return
        if self._phase is _Phase.LINGER:
            self._close_now()
        elif self._phase is _Phase.IDLE:
            self._close_now()  # an idle keep-alive connection (or one that never sent a byte)
        elif self._phase in (_Phase.HEAD, _Phase.BODY):
            self._limiter.timed_out += 1
            self._head = None
            self._answer_and_close(error_response(408, "Request Timeout"))

    # --- parsing ---

    def _advance(self) -> None:
        try:
            request = self._parse()
        except _Stop:
            return
        except BadRequest as exc:
            self._head = None
            self._answer_and_close(error_response(exc.status, str(exc)))
            return
        if request is not None:
            self._phase = _Phase.BUSY
            self._deadline = math.inf
            asyncio.get_running_loop().create_task(self._serve(request))

    def _parse(self) -> HttpRequest | None:
        while self._head is None:
            # Empty lines before a request line are ignored (RFC 9112 section 2.2).
            while self._buffer.startswith(b"\r\n"):
                del self._buffer[:2]
            if not self._buffer:
                return None
            if self._phase is _Phase.IDLE:
                self._phase = _Phase.HEAD
                if self._waiting_keep_alive:  # a next request: its head is due header_timeout_s from now
                    self._waiting_keep_alive = False
                    assert self._loop is not None
                    self._deadline = self._loop.time() + self._limits.header_timeout_s
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                self._check_unfinished_head()
                return None
            head = bytes(self._buffer[:end])
            del self._buffer[: end + 4]
            if _has_control_characters(head):
                raise BadRequest(400, "Bad Request")
            self._read_head(head.decode("latin-1"))
            assert self._loop is not None
            self._phase = _Phase.BODY
            self._deadline = self._loop.time() + self._limits.body_timeout_s
        return self._read_body()

    def _check_unfinished_head(self) -> None:
        buffered = len(self._buffer)
        line_end = self._buffer.find(b"\r\n")
        request_line = buffered if line_end < 0 else line_end
        if request_line > self._limits.max_request_line_bytes:
            raise BadRequest(414, "URI Too Long")
        if buffered > MAX_HEAD_BUFFER_BYTES:
            raise BadRequest(431, "Request Header Fields Too Large")

    def _read_head(self, head: str) -> None:
        lines = head.split("\r\n")
        limits = self._limits
        if len(lines[0]) > limits.max_request_line_bytes:
            raise BadRequest(414, "URI Too Long")
        if len(lines) - 1 > limits.max_header_count:
            raise BadRequest(431, "Request Header Fields Too Large")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise BadRequest(400, "Bad Request")
        method, target, version = parts
        if not _TOKEN.fullmatch(method) or not _ORIGIN_FORM.fullmatch(target):
            raise BadRequest(400, "Bad Request")
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            if _VERSION.fullmatch(version):
                raise BadRequest(505, "HTTP Version Not Supported")
            raise BadRequest(400, "Bad Request")
        headers: list[tuple[str, str]] = []
        content_length: int | None = None
        chunked = False
        connection = ""
        expect_continue = False
        hosts = 0
        counted = len(lines[0])
        names = []
        header_lines = lines[1:]
        if header_lines and max(map(len, header_lines)) > limits.max_header_line_bytes:
            raise BadRequest(431, "Request Header Fields Too Large")
        for line in header_lines:
            name, sep, value = line.partition(":")
            if not sep or not name:
                raise BadRequest(400, "Bad Request")
            names.append(name)
            value = value.strip(" \t")
            counted += len(value)
            lowered = name.lower()
            if lowered == "content-length":
                if not _DIGITS.fullmatch(value) or (content_length is not None and int(value) != content_length):
                    raise BadRequest(400, "Bad Request")
                content_length = int(value)
            elif lowered == "transfer-encoding":
                if chunked or version != "HTTP/1.1":
                    raise BadRequest(400, "Bad Request")
                if value.lower() != "chunked":
                    raise BadRequest(501, "Not Implemented")
                chunked = True
                continue  # hop-by-hop: the function sees a plain body
            elif lowered == "host":
                hosts += 1
            elif lowered == "connection":
                connection = value.lower()
            elif lowered == "expect":
                expect_continue = value.lower() == "100-continue"
            headers.append((name, value))
        if names and not _TOKEN.fullmatch("".join(names)):  # every name a token (one match for all)
            raise BadRequest(400, "Bad Request")
        if counted > limits.max_header_bytes:
            raise BadRequest(431, "Request Header Fields Too Large")
        if (chunked and content_length is not None) or hosts > 1 or (version == "HTTP/1.1" and hosts == 0):
            raise BadRequest(400, "Bad Request")
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        self._head = (method, target, version, headers, keep_alive)  # case-sensitive (RFC 9110 9.1)
        if chunked:
            self._body_length = None
            self._chunks = bytearray()
        else:
            self._body_length = content_length or 0
            if self._body_length > self._max_body:
                self._head = None
                self._answer_and_close(self._too_large())
                raise _Stop
        if expect_continue and version == "HTTP/1.1" and self._transport is not None:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _read_body(self) -> HttpRequest | None:
        assert self._head is not None
        if self._body_length is not None:
            if len(self._buffer) < self._body_length:
                return None
            body = bytes(self._buffer[: self._body_length])
            del self._buffer[: self._body_length]
        else:
            body_or_none = self._read_chunked()
            if body_or_none is None:
                return None
            body = body_or_none
        method, target, version, headers, keep_alive = self._head
        self._head = None
        path, _, query = target.partition("?")
        if self._chunks is not None:
            headers.append(("Content-Length", str(len(body))))
            self._chunks = None
        return HttpRequest(
            method, target, path, query, headers, body, self._client_ip, self._local_port, version, keep_alive
        )

    def _read_chunked(self) -> bytes | None:
        assert self._chunks is not None
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n", 0, MAX_CHUNK_LINE_BYTES + 2)
            if line_end < 0:
                if len(buffer) > MAX_CHUNK_LINE_BYTES:
                    raise BadRequest(400, "Bad Request")
                return None
            # The size in plain hex from the line's first byte, then nothing or ";" and extensions
            # (ignored, but without control characters): no whitespace anywhere a parser may differ.
            line = bytes(buffer[:line_end])
            size_text, _, extensions = line.partition(b";")
            if not _HEX.fullmatch(size_text) or _has_control_characters(extensions):
                raise BadRequest(400, "Bad Request")
            size = int(size_text, 16)
            if size == 0:
                if buffer.startswith(b"\r\n", line_end + 2):
                    trailer_end = line_end
                else:
                    trailer_end = buffer.find(b"\r\n\r\n", line_end + 2)
                    if trailer_end < 0:
                        if len(buffer) > MAX_TRAILER_BYTES:
                            raise BadRequest(431, "Request Header Fields Too Large")
                        return None
                    if not _valid_trailers(bytes(buffer[line_end + 2 : trailer_end])):
                        raise BadRequest(400, "Bad Request")
                del buffer[: trailer_end + 4]
                return bytes(self._chunks)
            if len(self._chunks) + size > self._max_body:
                self._head = None
                self._chunks = None
                self._answer_and_close(self._too_large())
                raise _Stop
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return None
            if buffer[start + size : start + size + 2] != b"\r\n":
                raise BadRequest(400, "Bad Request")
            self._chunks += buffer[start : start + size]
            del buffer[: start + size + 2]

    # --- serving ---

    async def _serve(self, request: HttpRequest) -> None:
        keep_alive = request.keep_alive
        try:
            response = await self._handler(request)
        except Exception as exc:  # noqa: BLE001 - one request's failure must not end the server
            # The path only: a query string may carry a token.
            log.exception("request %s %s failed", request.method, request.path)
            response = self._on_error(exc)
        if self._closed or self._transport is None:
            return
        if self._eof and not self._complete_request_buffered():
            keep_alive = False  # the client sent nothing more: answer, then close
        self._transport.write(encode_response(response, keep_alive, head_only=request.method == "HEAD"))
        if not keep_alive:
            self._closed = True
            self._transport.close()
            return
        assert self._loop is not None
        self._phase = _Phase.IDLE
        self._deadline = self._loop.time() + self._limits.keep_alive_timeout_s
        self._waiting_keep_alive = True
        if self._read_paused:
            self._read_paused = False
            self._transport.resume_reading()
        if self._buffer and self._write_paused_at is None:
            self._advance()

    def _complete_request_buffered(self) -> bool:
        return b"\r\n\r\n" in self._buffer

    def _answer_and_close(self, response: HttpResponse) -> None:
        """Answer, shut the write side, and drop what still arrives for ``linger_s`` (then close)."""
        transport = self._transport
        if transport is None or self._closed:
            return
        self._phase = _Phase.LINGER
        self._buffer.clear()
        transport.write(encode_response(response, keep_alive=False))
        if self._eof or not transport.can_write_eof():
            self._close_now()
            return
        transport.write_eof()
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        assert self._loop is not None
        self._deadline = self._loop.time() + self._limits.linger_s

    def abort(self) -> None:
        """Drop the connection at once (no answer)."""
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.abort()

    def _close_now(self) -> None:
        if self._transport is not None and not self._closed:
            self._closed = True
            if self._transport.get_write_buffer_size():
                self._transport.abort()  # answers still unread at a deadline: the client is not reading
            else:
                self._transport.close()


class _Stop(Exception):
    """Parsing ended because the connection was answered and closed."""
