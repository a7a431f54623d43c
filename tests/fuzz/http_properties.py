"""The gateway's HTTP server as a property over arbitrary byte streams, driven through an
in-memory transport (no sockets: thousands of cases a minute, and time moved by hand):

- never a crash: the protocol's callbacks raise nothing;
- one answer per request: every request the handler saw got exactly one answer, in order, and
  at most one answer more follows — the server's own refusal, after which the connection closes;
- no request read differently: every request served is read the same by h11 (a maintained
  parser) from the same bytes — same method, target, Host and body;
- never a hung connection: once every timeout has passed, the connection is closed.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import h11

from stack.embedded.gateway.http_server import (
    ConnectionLimiter,
    HttpLimits,
    HttpRequest,
    HttpResponse,
    HttpServerProtocol,
)

MAX_BODY_BYTES = 64
LIMITS = HttpLimits(max_header_bytes=2048, max_request_line_bytes=512, max_header_line_bytes=512, max_header_count=16)
# Later than every deadline of LIMITS (then twice: an answer's linger comes after a timeout).
PAST_EVERY_TIMEOUT_S = 10 * max(LIMITS.header_timeout_s, LIMITS.body_timeout_s, LIMITS.keep_alive_timeout_s)
_STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n")


class MemoryTransport(asyncio.Transport):
    """Records what the server writes; fails the case if it writes after closing or after EOF."""

    def __init__(self, protocol: HttpServerProtocol, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._protocol = protocol
        self._loop = loop
        self.written = bytearray()
        self.closed = False
        self.eof_written = False
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "wrote after close"
        assert not self.eof_written, "wrote after shutting the write side"
        self.written += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0  # every write "reaches" the client at once

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)


def _too_large() -> HttpResponse:
    return HttpResponse(413, [], b'{"message":"Request Too Long"}')


def _error(exc: BaseException) -> HttpResponse:
    raise AssertionError(f"the handler failed: {exc!r}")


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _answers(written: bytes, served: list[HttpRequest]) -> list[tuple[int, bytes]]:
    """(status, body) of every final answer, in order (HEAD answers have no body)."""
    answers: list[tuple[int, bytes]] = []
    at = 0
    while at < len(written):
        match = _STATUS_LINE.match(written, at)
        assert match, ("not an answer", bytes(written[at : at + 80]))
        head_end = written.index(b"\r\n\r\n", at) + 4
        status = int(match[1])
        if status == 100:
            at = head_end
            continue
        length = int(re.search(rb"\r\nContent-Length: (\d+)\r\n", written[at:head_end])[1])  # type: ignore[index]
        head_request = len(answers) < len(served) and served[len(answers)].method == "HEAD"
        body_end = head_end + (0 if head_request else length)
        answers.append((status, bytes(written[head_end:body_end])))
        at = body_end
    return answers


def _read_by_h11(stream: bytes, served: list[HttpRequest]) -> None:
    """Every served request, read by h11 from the bytes the server had, is the same request."""
    remaining = stream
    for request in served:
        while remaining.startswith(b"\r\n"):  # RFC 9112 section 2.2 (h11 refuses them)
            remaining = remaining[2:]
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        connection.receive_data(remaining)
        body = b""
        target: Any = None
        while True:
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError as error:
                raise AssertionError(f"served a request h11 refuses: {error}; request {request}") from None
            assert event is not h11.NEED_DATA, f"served a request h11 finds incomplete: {request}"
            if isinstance(event, h11.Request):
                target = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert target is not None
        assert target.method.decode() == request.method, (target.method, request.method)
        assert target.target.decode("latin-1") == request.target
        assert body == request.body
        h11_hosts = [value for name, value in target.headers if name == b"host"]
        assert [host.decode("latin-1") for host in h11_hosts] == [v for k, v in request.headers if k.lower() == "host"]
        remaining, _ = connection.trailing_data


def check_http_stream(pieces: list[bytes], half_close: bool) -> str:
    """The outcome, for the long run's tally: requests served, and the refusal's status if any."""
    return asyncio.run(_check_http_stream(pieces, half_close))


async def _check_http_stream(pieces: list[bytes], half_close: bool) -> str:
    loop = asyncio.get_running_loop()
    served: list[HttpRequest] = []

    async def handler(request: HttpRequest) -> HttpResponse:
        served.append(request)
        return HttpResponse(200, [("X-Call", str(len(served)))], f"call {len(served)}".encode())

    limiter = ConnectionLimiter(LIMITS)
    protocol = HttpServerProtocol(handler, MAX_BODY_BYTES, _too_large, _error, limiter)
    transport = MemoryTransport(protocol, loop)
    protocol.connection_made(transport)
    delivered = bytearray()
    for piece in pieces:
        if transport.closed:
            break
        for _ in range(20):  # a paused transport delivers nothing until the server resumes it
            if transport.reading:
                break
            await _settle()
        assert transport.reading, "reading stayed paused"
        delivered += piece
        protocol.data_received(piece)
        await _settle()
    if half_close and not transport.closed:
        if not protocol.eof_received():
            transport.close()
        await _settle()
    await _settle()
    for step in (1, 2, 3):  # time passes: every deadline (a timeout, then the linger after it)
        protocol.check_deadline(loop.time() + step * PAST_EVERY_TIMEOUT_S)
        await _settle()
    assert transport.closed, "the connection outlived every timeout"

    answers = _answers(bytes(transport.written), served)
    assert len(served) <= len(answers) <= len(served) + 1, (answers, served)
    for number, (request, (status, body)) in enumerate(zip(served, answers, strict=False), start=1):
        assert status == 200 and body == (b"" if request.method == "HEAD" else f"call {number}".encode()), answers
    if len(answers) > len(served):  # the server's own refusal, last
        assert answers[-1][0] in (400, 408, 413, 414, 431, 501, 505), answers
    _read_by_h11(bytes(delivered), served)
    refusal = f", then {answers[-1][0]}" if len(answers) > len(served) else ""
    return f"{min(len(served), 2)}{'+' if len(served) > 2 else ''} served{refusal}"
