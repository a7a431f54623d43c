"""Through the deployed API on the embedded target: hostile bodies get their documented answers
(docs/providers.md, "What valid JSON means"), never a function error; a client trickling its head
is cut off by the gateway (docs/gateway.md, "HTTP limits")."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest

from stack.clients.providers.shopify import shopify_delivery
from stack.embedded.gateway.http_server import HttpLimits
from stack.embedded.processes import stop_group
from tests.helpers.status_polling import wait_for_status

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 200 levels deep"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "nested more than 200 levels deep"),
        (b'{"id": NaN, "total": Infinity}', "NaN or Infinity, which are not JSON"),
        (b'{"n": ' + b"9" * 5_000 + b"}", "number out of range"),
    ],
    ids=["100000-nested-arrays", "5000-nested-objects", "nan-infinity", "5000-digit-number"],
)
def test_signed_hostile_body_is_refused_400_with_its_reason(api, shopify_secret, body, reason):
    delivery = shopify_delivery("orders/create", shopify_secret, body=body)
    response = api.post_webhook("shopify", delivery.body, delivery.headers)
    assert response.status == 400, response.body[:300]
    message = response.json()["message"]
    assert reason in message and "\n" not in message


def test_nesting_at_the_limit_is_accepted_and_processed(api, shopify_secret):
    order = json.loads(shopify_delivery("orders/create", shopify_secret).body)
    # The innermost value sits inside 200 containers: the order object and 199 nested ones.
    order["note_attributes_deep"] = "@"
    text = json.dumps(order).replace('"@"', '{"a":' * 198 + "[1]" + "}" * 198)
    delivery = shopify_delivery("orders/create", shopify_secret, body=text.encode())
    response = api.post_webhook("shopify", delivery.body, delivery.headers)
    assert response.status == 202, response.body[:300]
    status = wait_for_status(api, response.json()["id"], {"PROCESSED", "DEAD_LETTERED"})
    assert status["status"] == "PROCESSED", status


def test_client_trickling_its_head_is_answered_408_and_closed(embedded_stack):
    url = urlsplit(embedded_stack.api_url)
    assert url.hostname and url.port
    head = f"POST {url.path}/webhooks/shopify HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
    # One byte every half second: the head would take far longer than the header timeout.
    interval_s = 0.5
    bound = int(HttpLimits().header_timeout_s / interval_s) * 4
    answer = b""
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        for byte in (head * 4).encode()[:bound]:
            sock.sendall(bytes([byte]))
            readable, _, _ = select.select([sock], [], [], interval_s)
            if readable:
                break
        for _ in range(1000):  # the answer, then the close
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"Connection: close" in answer


# --- a second gateway over the deployed API, with tight limits set by its command-line options ---

TIGHT = ["--max-connections", "2", "--header-timeout", "2", "--keep-alive-timeout", "3", "--linger", "0.5"]
# Bounds on waiting for the gateway (never asserted as durations).
START_BOUND_S = 90.0
READ_BOUND_S = 30.0


@pytest.fixture(scope="module")
def tight_gateway(embedded_stack, tmp_path_factory):
    """``python -m stack.embedded.gateway`` with TIGHT limits; yields its (host, port), stops it after."""
    work = tmp_path_factory.mktemp("tight-gateway")
    ready = work / "ready.json"
    command = [sys.executable, "-m", "stack.embedded.gateway", "--endpoint-url", str(embedded_stack.endpoint_url)]
    command += ["--rest-api-id", embedded_stack.api_id, "--stage", embedded_stack.stage, "--log-dir", str(work)]
    command += ["--ready-file", str(ready), "--state-dir", str(work / "state"), "--region", embedded_stack.region]
    with open(work / "gateway.out", "wb") as out:
        process = subprocess.Popen(command + TIGHT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(int(START_BOUND_S / 0.2)):
            if ready.exists() or process.poll() is not None:
                break
            time.sleep(0.2)
        assert ready.exists(), (work / "gateway.out").read_text()[-2000:]
        yield "127.0.0.1", json.loads(ready.read_text())["port"]
    finally:
        stop_group(process.pid, ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)), process=process)
        assert process.poll() is not None and not os.path.exists(ready)


def _read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(READ_BOUND_S)
    data = b""
    for _ in range(10_000):
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError("the gateway kept sending")


def _status_request(stage: str, token: str) -> bytes:
    return f"GET /{stage}/events/evt_{'0' * 32} HTTP/1.1\r\nHost: x\r\nX-Hookstack-Token: {token}\r\n\r\n".encode()


def test_connection_beyond_the_cap_is_refused_503_and_the_cap_frees_up(tight_gateway, embedded_stack):
    first, second = (socket.create_connection(tight_gateway, timeout=READ_BOUND_S) for _ in range(2))
    with first, second:
        with socket.create_connection(tight_gateway, timeout=READ_BOUND_S) as third:
            refused = _read_until_closed(third)
        assert refused.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in refused
    served = b""
    for _ in range(50):  # until the gateway has seen the two closes
        with socket.create_connection(tight_gateway, timeout=READ_BOUND_S) as fourth:
            fourth.sendall(
                _status_request(embedded_stack.stage, "not-a-token").replace(
                    b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"
                )
            )
            served = _read_until_closed(fourth)
        if not served.startswith(b"HTTP/1.1 503 "):
            break
        time.sleep(0.1)
    assert served.startswith(b"HTTP/1.1 403 "), served[:200]  # through to the authorizer: served


def test_idle_keep_alive_connection_is_closed_by_the_gateway(tight_gateway, embedded_stack):
    with socket.create_connection(tight_gateway, timeout=READ_BOUND_S) as sock:
        sock.sendall(_status_request(embedded_stack.stage, "not-a-token"))
        data = _read_until_closed(sock)  # one answer (kept alive), then the close once idle
    assert data.count(b"HTTP/1.1 ") == 1 and b"Connection: keep-alive" in data


def test_silent_client_is_closed_at_the_header_timeout(tight_gateway):
    with socket.create_connection(tight_gateway, timeout=READ_BOUND_S) as sock:
        assert _read_until_closed(sock) == b""
