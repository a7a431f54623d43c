"""A loopback HTTP server that answers every request like the producer does, and does nothing.

``202 {"id": "evt_…", "status_url": "…"}``, the id derived from the delivery id header as the
stack derives it. Used to measure the load generator itself (benchmarks/load_generator.py) and
to test the harness end to end without a stack. Optional fixed delay and a stall window let a
test show coordinated omission. Binds 127.0.0.1 only.

    python -m loadtests.noop_target --port 0 [--delay-ms 2] [--stall-at 5 --stall-for 1]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import time
from typing import cast

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_DELIVERY_ID = re.compile(rb"\r\n(?:x-shopify-webhook-id|x-github-delivery):\s*([^\r\n]+)", re.IGNORECASE)
_STAGE_PATH = re.compile(rb"^POST (\S*?)/webhooks/")


class NoopTarget(asyncio.Protocol):
    delay_s = 0.0
    stall_at: float | None = None  # seconds after the first request
    stall_for = 0.0
    first_request: float | None = None
    requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a TCP server's transports are (uvloop's too)
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[: end + 2])
            match = _CONTENT_LENGTH.search(head)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            NoopTarget.requests += 1
            if NoopTarget.first_request is None:
                NoopTarget.first_request = time.monotonic()
            response = self._response(head)
            delay = self._delay()
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, self._send, response)
            else:
                self._send(response)

    def _delay(self) -> float:
        delay = self.delay_s
        if self.stall_at is not None and NoopTarget.first_request is not None:
            now = time.monotonic() - NoopTarget.first_request
            if self.stall_at <= now < self.stall_at + self.stall_for:
                delay += self.stall_at + self.stall_for - now  # everything waits for the stall to end
        return delay

    def _response(self, head: bytes) -> bytes:
        match = _DELIVERY_ID.search(head)
        seed = match.group(1) if match else str(NoopTarget.requests).encode()
        event_id = "evt_" + hashlib.sha256(seed).hexdigest()[:32]
        stage = _STAGE_PATH.match(head)
        prefix = stage.group(1).decode() if stage else ""
        body = json.dumps({"id": event_id, "status_url": f"{prefix}/events/{event_id}"}).encode()
        return (
            b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    def _send(self, response: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(response)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(NoopTarget, "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--stall-at", type=float, default=None, help="seconds after the first request")
    parser.add_argument("--stall-for", type=float, default=0.0, help="seconds")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long")
    args = parser.parse_args(argv)
    NoopTarget.delay_s = args.delay_ms / 1000
    NoopTarget.stall_at, NoopTarget.stall_for = args.stall_at, args.stall_for
    try:
        import uvloop  # the generator, not this server, should be the thing measured

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(asyncio.wait_for(serve(args.port), timeout=args.max_seconds))
    except (KeyboardInterrupt, TimeoutError):
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
