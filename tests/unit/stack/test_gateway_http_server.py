"""The gateway's HTTP/1.1 front end over a real loopback socket."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from stack.embedded.gateway.http_server import (
    ConnectionLimiter,
    HttpLimits,
    HttpRequest,
    HttpResponse,
    HttpServerProtocol,
)

LIMIT = 100


async def _echo(request: HttpRequest) -> HttpResponse:
    body = f"{request.method} {request.path}?{request.query} {len(request.body)} {request.body.decode()}".encode()
    return HttpResponse(200, [("Content-Type", "text/plain"), ("X-Bad", "a\r\nInjected: 1")], body)


def _too_large() -> HttpResponse:
    return HttpResponse(413, [("Content-Type", "application/json")], b'{"message":"Request Too Long"}')


def _error(exc: BaseException) -> HttpResponse:
    return HttpResponse(500, [], b"boom")


def _exchange(
    raw: bytes,
    handler: Callable[[HttpRequest], Awaitable[HttpResponse]] = _echo,
    limits: HttpLimits | None = None,
) -> bytes:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        limiter = ConnectionLimiter(limits or HttpLimits())
        server = await loop.create_server(
            lambda: HttpServerProtocol(handler, LIMIT, _too_large, _error, limiter), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        await writer.drain()
        data = b""
        try:
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), 0.2)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass
        writer.close()
        server.close()
        return data

    return asyncio.run(main())


def _serve_and_run(
    scenario: Callable[[int, ConnectionLimiter], Awaitable[Any]],
    handler: Callable[[HttpRequest], Awaitable[HttpResponse]],
    limits: HttpLimits,
) -> Any:
    """Run ``scenario(port, limiter)`` against a server with these limits (the body limit: LIMIT)."""

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        limiter = ConnectionLimiter(limits)
        server = await loop.create_server(
            lambda: HttpServerProtocol(handler, LIMIT, _too_large, _error, limiter), "127.0.0.1", 0
        )
        try:
            return await scenario(server.sockets[0].getsockname()[1], limiter)
        finally:
            server.close()

    return asyncio.run(main())


def test_keep_alive_serves_pipelined_requests_in_order() -> None:
    raw = b"POST /test/a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /test/b HTTP/1.1\r\nHost: h\r\n\r\n"
    data = _exchange(raw)
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.index(b"POST /test/a?x=1 3 abc") < data.index(b"GET /test/b? 0")
    assert b"Connection: keep-alive" in data
    # A function's header value cannot inject a header line.
    assert b"\r\nInjected: 1" not in data


def test_chunked_body() -> None:
    raw = (
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    )
    data = _exchange(raw)
    assert b"POST /c? 5 abcde" in data
    assert b"Connection: close" in data


def test_body_over_the_limit_is_refused_before_it_is_read() -> None:
    data = _exchange(b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 413 ")
    assert data.endswith(b'{"message":"Request Too Long"}')
    assert b"Connection: close" in data


def test_chunked_body_over_the_limit() -> None:
    head = b"POST /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw = head + b"65\r\n" + b"x" * 101 + b"\r\n0\r\n\r\n"
    assert _exchange(raw).startswith(b"HTTP/1.1 413 ")


def test_body_at_the_limit_is_served() -> None:
    data = _exchange(b"POST /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + b"y" * 100)
    assert data.startswith(b"HTTP/1.1 200 ")


def test_expect_100_continue() -> None:
    data = _exchange(b"POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")


def test_malformed_request_line() -> None:
    assert _exchange(b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _exchange(b"GET / HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505 ")


def test_handler_failure_answers_and_keeps_the_connection() -> None:
    calls = []

    async def flaky(request: HttpRequest) -> HttpResponse:
        calls.append(request.path)
        if len(calls) == 1:
            raise RuntimeError("bug")
        return await _echo(request)

    data = _exchange(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n", flaky)
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b"HTTP/1.1 200 OK" in data


def test_http_1_0_closes_by_default() -> None:
    data = _exchange(b"GET /x HTTP/1.0\r\n\r\n")
    assert b"Connection: close" in data


def test_head_has_no_body() -> None:
    data = _exchange(b"HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert data.endswith(b"\r\n\r\n")
    assert b"Content-Length: " in data


# --- framing: a request another parser could read differently is refused -------------------------


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: \xb2\r\n\r\nab", 400),  # a latin-1 digit
        (b"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\na", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /s HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabcde\r\n0\r\n\r\n", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\nabc\r\n0\r\n\r\n", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a\nb\r\nabc\r\n0\r\n\r\n", 400),
        (b"POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n", 400),
        (b"GET /s HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n", 400),
        (b"GET /s HTTP/1.1\r\nHost: h\r\nX-A: 1\nX-B: 2\r\n\r\n", 400),  # a bare LF
        (b"GET /s HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", 400),
        (b"GET /s HTTP/1.1\r\nHost: h\r\nBad Name: 1\r\n\r\n", 400),
        (b"GET /s HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET /s HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"GET /\r\n\r\n", 400),  # HTTP/0.9
        (b"GET http://evil/s HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET  /s HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET /s HTTP/1.1x\r\nHost: h\r\n\r\n", 400),
        (b"GET /s HTTP/0.9\r\nHost: h\r\n\r\n", 505),
    ],
)
def test_ambiguous_framing_is_refused_and_closed(raw: bytes, status: int) -> None:
    calls: list[str] = []

    async def record(request: HttpRequest) -> HttpResponse:
        calls.append(request.path)
        return await _echo(request)

    data = _exchange(raw, record)
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), data[:80]
    assert data.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in data
    assert calls == []


def test_trailers_after_the_last_chunk_are_read_and_dropped() -> None:
    raw = (
        b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nab\r\n0\r\nX-Checksum: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    data = _exchange(raw)
    assert b"POST /t? 2 ab" in data and b"GET /next? 0" in data


# --- head limits ------------------------------------------------------------------------------------

SMALL = HttpLimits(max_request_line_bytes=64, max_header_line_bytes=64, max_header_count=3, max_header_bytes=120)


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"GET /" + b"a" * 80 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
        (b"GET /" + b"a" * 80, 414),  # known too long before the line ends
        (b"GET /s HTTP/1.1\r\nHost: h\r\nX-Long: " + b"v" * 60 + b"\r\n\r\n", 431),
        (b"GET /s HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431),
        (b"GET /s HTTP/1.1\r\nHost: h\r\nA: " + b"1" * 55 + b"\r\nB: " + b"2" * 55 + b"\r\n\r\n", 431),
    ],
)
def test_head_over_its_limits_is_answered_and_closed(raw: bytes, status: int) -> None:
    data = _exchange(raw, limits=SMALL)
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), data[:80]
    assert b"Connection: close" in data


def test_head_within_its_limits_is_served() -> None:
    data = _exchange(b"GET /s HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits=SMALL)
    assert data.startswith(b"HTTP/1.1 200 ")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="header_timeout_s must be a positive number"):
        HttpLimits(header_timeout_s=0)


# --- timeouts, the connection cap, lingering close ---------------------------------------------

QUICK = HttpLimits(header_timeout_s=0.3, body_timeout_s=0.3, keep_alive_timeout_s=0.3, send_timeout_s=0.3, linger_s=0.3)
# Bounds on how long a test waits for the server (never asserted as a duration).
GIVE_UP_S = 10.0


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while True:
        chunk = await asyncio.wait_for(reader.read(65536), GIVE_UP_S)
        if not chunk:
            return data
        data += chunk


def test_slow_head_is_answered_408_and_closed_without_reaching_the_handler() -> None:
    calls: list[str] = []

    async def record(request: HttpRequest) -> HttpResponse:
        calls.append(request.path)
        return await _echo(request)

    async def scenario(port: int, limiter: ConnectionLimiter) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        trickle = b"POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
        for byte in trickle:  # one byte every 50 ms: the head takes far longer than 0.3 s
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)
            if reader._buffer:  # type: ignore[attr-defined]  # answered: stop sending
                break
        data = await _read_until_closed(reader)
        writer.close()
        assert limiter.timed_out == 1
        return data

    data = _serve_and_run(scenario, record, QUICK)
    assert data.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in data
    assert calls == []


def test_slow_body_is_answered_408() -> None:
    async def scenario(port: int, limiter: ConnectionLimiter) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        data = await _read_until_closed(reader)
        writer.close()
        return data

    data = _serve_and_run(scenario, _echo, QUICK)
    assert data.startswith(b"HTTP/1.1 408 ")


def test_idle_keep_alive_connection_is_closed_after_its_answer() -> None:
    async def scenario(port: int, limiter: ConnectionLimiter) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /once HTTP/1.1\r\nHost: h\r\n\r\n")
        data = await _read_until_closed(reader)  # the answer, then EOF once idle past the timeout
        writer.close()
        return data

    data = _serve_and_run(scenario, _echo, QUICK)
    assert data.count(b"HTTP/1.1 200 OK") == 1 and b"Connection: keep-alive" in data


def test_silent_connection_is_closed_without_an_answer() -> None:
    async def scenario(port: int, limiter: ConnectionLimiter) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = await _read_until_closed(reader)
        writer.close()
        return data

    assert _serve_and_run(scenario, _echo, QUICK) == b""


def test_connections_beyond_the_cap_get_503_and_the_cap_frees_up() -> None:
    limits = HttpLimits(max_connections=2, linger_s=0.3)

    async def scenario(port: int, limiter: ConnectionLimiter) -> list[bytes]:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        for reader, writer in held:  # both admitted and served
            writer.write(b"GET /held HTTP/1.1\r\nHost: h\r\n\r\n")
            await asyncio.wait_for(reader.readuntil(b"GET /held? 0 "), GIVE_UP_S)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /third HTTP/1.1\r\nHost: h\r\n\r\n")
        refused = await _read_until_closed(reader)
        writer.close()
        held[0][1].close()
        for _ in range(int(GIVE_UP_S / 0.01)):  # until the server has seen the close
            if limiter.active < 2:
                break
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        served = await _read_until_closed(reader)
        writer.close()
        held[1][1].close()
        assert limiter.refused == 1
        return [refused, served]

    refused, served = _serve_and_run(scenario, _echo, limits)
    assert refused.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in refused and b"Connection: close" in refused
    assert served.startswith(b"HTTP/1.1 200 ") and b"GET /after" in served


def test_refusal_is_read_by_a_client_still_sending_its_body() -> None:
    async def scenario(port: int, limiter: ConnectionLimiter) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 300000\r\n\r\n" + b"x" * 300_000)
        data = await _read_until_closed(reader)  # a reset instead of the answer would raise here
        writer.close()
        return data

    data = _serve_and_run(scenario, _echo, QUICK)
    assert data.startswith(b"HTTP/1.1 413 ")


def test_client_not_reading_its_answers_is_dropped() -> None:
    big = b"z" * (4 * 1024 * 1024)

    async def huge(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, [], big)

    async def scenario(port: int, limiter: ConnectionLimiter) -> tuple[int, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1024)
        writer.transport.pause_reading()  # the client reads nothing
        writer.write(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n" * 3)
        for _ in range(int(GIVE_UP_S / 0.05)):
            if limiter.active == 0:
                break
            await asyncio.sleep(0.05)
        writer.close()
        return limiter.timed_out, limiter.active

    # Counted as a timeout, and gone (a plain close would wait forever for the unread answers).
    assert _serve_and_run(scenario, huge, QUICK) == (1, 0)


def test_half_closed_client_still_gets_its_answer() -> None:
    async def scenario(port: int, limiter: ConnectionLimiter) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /half HTTP/1.1\r\nHost: h\r\n\r\n")
        writer.write_eof()
        data = await _read_until_closed(reader)
        writer.close()
        return data

    # Answered, then closed (the read ends): "Connection: close" too when the EOF came first.
    data = _serve_and_run(scenario, _echo, QUICK)
    assert data.startswith(b"HTTP/1.1 200 ") and data.count(b"HTTP/1.1 ") == 1


def test_every_limit_is_an_option_of_the_gateway_command() -> None:
    from stack.embedded.gateway.__main__ import parse_args

    required = ["--endpoint-url", "x", "--rest-api-id", "y", "--stage", "dev", "--log-dir", "l", "--ready-file", "r"]
    options = parse_args([*required, "--header-timeout", "2.5", "--max-connections", "7", "--max-header-count", "9"])
    assert options.http_limits == HttpLimits(header_timeout_s=2.5, max_connections=7, max_header_count=9)
    assert parse_args(required).http_limits == HttpLimits()
    with pytest.raises(SystemExit) as refused:
        parse_args([*required, "--keep-alive-timeout", "-1"])
    assert refused.value.code == 2


@pytest.mark.parametrize(
    "trailers",
    [b"GET /smuggled HTTP/1.1\r\nHost: h\r\n", b":\r\n", b" \r\n", b"X-A: 1\r\n folded\r\n"],
    ids=["request-line", "no-name", "whitespace", "obs-fold"],
)
def test_trailer_section_that_is_not_header_fields_is_refused(trailers: bytes) -> None:
    # Found by the fuzzer: a request after "0\\r\\n" was read as trailers and dropped.
    raw = b"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n" + trailers + b"\r\n"
    data = _exchange(raw)
    assert data.startswith(b"HTTP/1.1 400 ") and data.count(b"HTTP/1.1 ") == 1
