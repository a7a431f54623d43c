"""A small HTTP/1.1 server protocol for asyncio: keep-alive, Content-Length and chunked bodies.

Only what an API Gateway front end needs: one request at a time per connection (pipelined
requests are answered in order), a hard body limit checked before the body is read (413
and close), ``Expect: 100-continue``, and responses with Content-Length.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

log = logging.getLogger("stack.embedded.gateway.http")

MAX_HEAD_BYTES = 64 * 1024
# Pause reading while a request is being served and this much is already buffered.
READ_HIGH_WATER = 1024 * 1024

_REASONS = {s.value: s.phrase for s in HTTPStatus}


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


class HttpServerProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(
        self,
        handler: Handler,
        max_body_bytes: int,
        too_large: Callable[[], HttpResponse],
        on_error: Callable[[BaseException], HttpResponse],
    ) -> None:
        self._handler = handler
        self._max_body = max_body_bytes
        self._too_large = too_large
        self._on_error = on_error
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._client_ip = ""
        self._local_port = 0
        self._busy = False
        self._closed = False
        self._paused = False
        # Parsed head awaiting its body.
        self._head: tuple[str, str, str, list[tuple[str, str]], bool] | None = None
        self._body_length: int | None = None  # None with a head: chunked
        self._chunks: bytearray | None = None

    # --- asyncio callbacks ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        self._client_ip = peer[0] if peer else "127.0.0.1"
        self._local_port = sock[1] if sock else 0

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._busy:
            if len(self._buffer) > READ_HIGH_WATER and not self._paused and self._transport:
                self._transport.pause_reading()
                self._paused = True
            return
        self._advance()

    # --- parsing ---

    def _advance(self) -> None:
        try:
            request = self._parse()
        except _Stop:
            return
        except BadRequest as exc:
            body = json.dumps({"message": str(exc)}).encode()
            self._send_and_close(HttpResponse(exc.status, [("Content-Type", "application/json")], body))
            return
        if request is not None:
            self._busy = True
            asyncio.get_running_loop().create_task(self._serve(request))

    def _parse(self) -> HttpRequest | None:
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise BadRequest(431, "Request Header Fields Too Large")
                return None
            head = bytes(self._buffer[:end]).decode("latin-1")
            del self._buffer[: end + 4]
            self._read_head(head)
            if self._head is None:
                return None
        return self._read_body()

    def _read_head(self, head: str) -> None:
        lines = head.split("\r\n")
        while lines and not lines[0]:
            lines.pop(0)  # tolerate stray CRLF between requests
        if not lines:
            return
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise BadRequest(400, "Bad Request") from None
        if not version.startswith("HTTP/1."):
            raise BadRequest(505, "HTTP Version Not Supported")
        headers: list[tuple[str, str]] = []
        content_length: int | None = None
        chunked = False
        connection = ""
        expect_continue = False
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise BadRequest(400, "Bad Request")
            value = value.strip()
            lowered = name.lower()
            if lowered == "content-length":
                if not value.isdigit() or (content_length is not None and int(value) != content_length):
                    raise BadRequest(400, "Bad Request")
                content_length = int(value)
            elif lowered == "transfer-encoding":
                chunked = value.lower().endswith("chunked")
                if not chunked:
                    raise BadRequest(501, "Not Implemented")
                continue  # hop-by-hop: the function sees a plain body
            elif lowered == "connection":
                connection = value.lower()
            elif lowered == "expect":
                expect_continue = value.lower() == "100-continue"
            headers.append((name, value))
        if chunked and content_length is not None:
            raise BadRequest(400, "Bad Request")
        keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        self._head = (method.upper(), target, version, headers, keep_alive)
        if chunked:
            self._body_length = None
            self._chunks = bytearray()
        else:
            self._body_length = content_length or 0
            if self._body_length > self._max_body:
                self._head = None
                self._send_and_close(self._too_large())
                raise _Stop
        if expect_continue and self._transport is not None:
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
        if not path.startswith("/"):
            raise BadRequest(400, "Bad Request")
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
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return None
            size_text = bytes(buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadRequest(400, "Bad Request") from None
            if size == 0:
                trailer_end = buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return None
                del buffer[: trailer_end + 4]
                return bytes(self._chunks)
            if len(self._chunks) + size > self._max_body:
                self._head = None
                self._chunks = None
                self._send_and_close(self._too_large())
                raise _Stop
            if len(buffer) < line_end + 2 + size + 2:
                return None
            start = line_end + 2
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
        self._transport.write(encode_response(response, keep_alive, head_only=request.method == "HEAD"))
        if not keep_alive:
            self._transport.close()
            return
        self._busy = False
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        if self._buffer:
            self._advance()

    def _send_and_close(self, response: HttpResponse) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(encode_response(response, keep_alive=False))
            self._transport.close()
        self._closed = True


class _Stop(Exception):
    """Parsing ended because the connection was answered and closed."""
