"""The gateway's HTTP/1.1 front end over a real loopback socket."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from stack.embedded.gateway.http_server import HttpRequest, HttpResponse, HttpServerProtocol

LIMIT = 100


async def _echo(request: HttpRequest) -> HttpResponse:
    body = f"{request.method} {request.path}?{request.query} {len(request.body)} {request.body.decode()}".encode()
    return HttpResponse(200, [("Content-Type", "text/plain"), ("X-Bad", "a\r\nInjected: 1")], body)


def _too_large() -> HttpResponse:
    return HttpResponse(413, [("Content-Type", "application/json")], b'{"message":"Request Too Long"}')


def _error(exc: BaseException) -> HttpResponse:
    return HttpResponse(500, [], b"boom")


def _exchange(raw: bytes, handler: Callable[[HttpRequest], Awaitable[HttpResponse]] = _echo) -> bytes:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: HttpServerProtocol(handler, LIMIT, _too_large, _error), "127.0.0.1", 0
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
