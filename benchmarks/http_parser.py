"""What the gateway's HTTP/1.1 server costs per request, against h11 (a maintained parser) on the
same request — and, with ``--compare-with``, against another version of the server module.

In memory, no sockets: one keep-alive connection's protocol is fed a typical signed webhook
request (10 headers, a 230-byte body) N times, the handler answers at once, and the time per
request is printed with the event loop's own turns subtracted. h11 is timed reading the same bytes
and writing the same answer. Rounds are interleaved, so drift in the machine's load hits every
variant alike; the minimum and median over rounds are printed (the minimum is the least disturbed).

    python benchmarks/http_parser.py [--requests 20000] [--rounds 7]
        [--compare-with PATH]   # e.g. git show HEAD:stack/embedded/gateway/http_server.py > /tmp/old.py
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import h11  # noqa: E402 - run as a script: the repository goes on sys.path first
import uvloop  # noqa: E402

from stack.embedded.gateway import http_server  # noqa: E402

REQUEST = (
    b"POST /dev/webhooks/shopify HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-Hookstack-Token: tok_0123456789\r\n"
    b"Content-Type: application/json\r\nContent-Length: 230\r\nX-Shopify-Topic: orders/create\r\n"
    b"X-Shopify-Hmac-Sha256: L9d3BC4vqGqKtQ/VJpl5EcIIg2qSmY0000000000000=\r\n"
    b"X-Shopify-Shop-Domain: demo-shop.myshopify.com\r\nX-Shopify-Webhook-Id: 3c24a556-b19a-4446-a61b-562393000000\r\n"
    b"User-Agent: Shopify-Captain-Hook\r\n\r\n" + b"x" * 230
)
ANSWER_BODY = b'{"id":"evt_0","status_url":"http://127.0.0.1:8080/dev/events/evt_0"}'


class CountingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: Any) -> None:
        self.writes += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _loop_turns(requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    return time.perf_counter() - started


async def _server(module: ModuleType, requests: int) -> float:
    async def handler(request: Any) -> Any:
        return module.HttpResponse(202, [("Content-Type", "application/json")], ANSWER_BODY)

    protocol = module.HttpServerProtocol(handler, 10_000_000, lambda: None, lambda error: None)
    transport = CountingTransport()
    protocol.connection_made(transport)
    started = time.perf_counter()
    for _ in range(requests):
        protocol.data_received(REQUEST)
        await asyncio.sleep(0)  # the request's task runs
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - started
    assert transport.writes == requests, (transport.writes, requests)
    return elapsed


def _h11(requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        connection = h11.Connection(h11.SERVER)
        connection.receive_data(REQUEST)
        while not isinstance(connection.next_event(), h11.EndOfMessage):
            pass
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER_BODY)))]
        connection.send(h11.Response(status_code=202, headers=headers))
        connection.send(h11.Data(data=ANSWER_BODY))
        connection.send(h11.EndOfMessage())
    return time.perf_counter() - started


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("http_server_compared", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per variant per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compare-with", type=Path, help="another version of http_server.py, timed alike")
    args = parser.parse_args(argv)
    if not (1_000 <= args.requests <= 1_000_000 and 1 <= args.rounds <= 50):
        parser.error("--requests 1000..1000000, --rounds 1..50")
    variants: dict[str, Any] = {"this tree's server": http_server}
    if args.compare_with is not None:
        variants[f"server from {args.compare_with}"] = load_module(args.compare_with)
    micros: dict[str, list[float]] = {name: [] for name in [*variants, "h11 (read + write)"]}
    for _ in range(args.rounds):
        turns = uvloop.run(_loop_turns(args.requests))
        for name, module in variants.items():
            elapsed = uvloop.run(_server(module, args.requests))
            micros[name].append((elapsed - turns) / args.requests * 1e6)
        micros["h11 (read + write)"].append(_h11(args.requests) / args.requests * 1e6)
    print(f"µs per request ({args.requests} requests × {args.rounds} rounds, loop turns subtracted)")
    print(f"{'variant':<48} {'min':>8} {'median':>8}")
    for name, values in micros.items():
        print(f"{name:<48} {min(values):>8.1f} {statistics.median(values):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
