"""The gateway's HTTP server over arbitrary byte streams (bounded: the ``ci`` profile)."""

from __future__ import annotations

from hypothesis import example, given

from tests.fuzz import http_properties as properties
from tests.fuzz.strategies import http_streams


@given(http_streams())
@example(([b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], False))
@example(([b"GET / HTTP/1.1\r\nHost: h\r\n\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"], True))
@example(([b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", b"c\r\n0\r\n\r\n"], False))
@example(([b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: \xb2\r\n\r\n"], False))
def test_any_byte_stream_gets_one_answer_per_request_and_the_connection_ends(
    stream: tuple[list[bytes], bool],
) -> None:
    pieces, half_close = stream
    properties.check_http_stream(pieces, half_close)
