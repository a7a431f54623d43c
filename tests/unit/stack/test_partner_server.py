"""The partner simulator as a child process on a free port: every API over HTTP, the control
routes through the client, and `hookstack partner` in the foreground (no emulator needed)."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.clients.providers.standard_webhooks import new_secret, standard_webhooks_delivery
from stack.partner.client import PartnerClient, PartnerError
from stack.partner.process import PartnerProcess, running_partner
from stack.partner.records import most_in_any_window

SECRET = new_secret()
WAIT_S = 20.0  # the most any wait below takes before it fails


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerProcess]:
    with running_partner(callback_secrets={"acme": SECRET}) as running:
        yield running
    assert not running.alive()


@pytest.fixture
def client(partner: PartnerProcess) -> PartnerClient:
    partner.client.reset()
    return partner.client


def _send(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _callback(partner: PartnerProcess, secret: str = SECRET, webhook_id: str | None = None) -> int:
    delivery = standard_webhooks_delivery("invoice.paid", secret, webhook_id=webhook_id)
    status, _, _ = _send(partner.port, "POST", "/callbacks/acme", delivery.body, delivery.headers)
    return status


def test_health(client):
    assert client.health()["status"] == "ok"


def test_signed_callbacks_are_verified_and_an_outage_makes_the_sender_retry(partner, client):
    assert _callback(partner, webhook_id="msg_1") == 200
    client.set_faults("callbacks", outage=True, status=503)
    assert _callback(partner, webhook_id="msg_2") == 503
    client.clear_faults("callbacks")
    assert _callback(partner, webhook_id="msg_2") == 200
    assert _callback(partner, secret=new_secret(), webhook_id="msg_3") == 200  # answered, recorded unverified
    records = client.wait_for_deliveries(2, timeout_s=WAIT_S)
    assert [(c.webhook_id, c.status, c.verified) for c in records.callbacks] == [
        ("msg_1", 200, True),
        ("msg_2", 503, True),
        ("msg_2", 200, True),
        ("msg_3", 200, False),
    ]
    view = {d.webhook_id: (d.attempts, d.delivered) for d in records.deliveries}
    assert view == {"msg_1": (1, True), "msg_2": (2, True), "msg_3": (1, False)}


def test_a_secret_registered_at_run_time_verifies_that_tenants_callbacks(partner, client):
    other = new_secret()
    client.set_callback_secret("globex", other)
    assert "globex" in client.callback_tenants()
    delivery = standard_webhooks_delivery("invoice.paid", other)
    assert _send(partner.port, "POST", "/callbacks/globex", delivery.body, delivery.headers)[0] == 200
    assert [c.verified for c in client.callbacks().callbacks] == [True]
    with pytest.raises(PartnerError) as refused:
        client.set_callback_secret("globex", "whsec_***")
    assert refused.value.status == 400


def test_accounting_books_once_per_idempotency_key(partner, client):
    invoice = json.dumps({"invoice": "INV-1", "amount": 4200}).encode()
    first = _send(partner.port, "POST", "/accounting/invoices", invoice, {"Idempotency-Key": "job-1:book"})
    retry = _send(partner.port, "POST", "/accounting/invoices", invoice, {"Idempotency-Key": "job-1:book"})
    assert first[0] == retry[0] == 201 and first[2] == retry[2] and retry[1].get("Idempotent-Replayed") == "true"
    assert _send(partner.port, "POST", "/accounting/invoices", invoice)[0] == 400
    records = client.accounting()
    assert [(b.idempotency_key, b.requests) for b in records.bookings] == [("job-1:book", 2)]
    assert [r.status for r in records.requests] == [201, 201, 400]


def test_payments_charge_and_refund(partner, client):
    charge = _send(partner.port, "POST", "/payments/charges", b'{"amount": 1500, "currency": "eur"}')
    assert charge[0] == 201
    refund = json.dumps({"charge_id": json.loads(charge[2])["charge_id"]}).encode()
    assert _send(partner.port, "POST", "/payments/refunds", refund)[0] == 201
    records = client.payments()
    assert [(c.amount, c.refunded) for c in records.charges] == [(1500, 1500)] and len(records.refunds) == 1


def test_an_injected_error_rate_fails_requests_with_the_status_set(partner, client):
    client.set_faults("payments", error_rate=1.0, status=502)
    assert _send(partner.port, "POST", "/payments/charges", b'{"amount": 1, "currency": "eur"}')[0] == 502
    records = client.payments()
    assert records.charges == [] and [r.fault for r in records.requests] == ["error"]


def test_the_trickle_rate_limit_holds_in_every_window(partner, client):
    client.set_faults("trickle", rate_limit_per_s=1, burst=2)
    sent = 20
    statuses = []
    for n in range(sent):
        group = "orders" if n % 2 else "customers"
        status, headers, _ = _send(partner.port, "POST", "/trickle/rows", str(n).encode(), {"X-Group-Key": group})
        statuses.append(status)
        if status == 429:
            assert headers.get("Retry-After") == "1"
    records = client.trickle()
    assert len(records.accepted) + records.rate_limited == sent and records.rate_limited > 0
    assert statuses.count(200) == len(records.accepted)
    assert most_in_any_window(records.accepted, 1.0) <= 2 + 1 * 1.0  # burst + rate × window
    for group, accepted in records.by_group().items():
        numbers = [int(r.body) for r in accepted]
        assert numbers == sorted(numbers) and {n % 2 for n in numbers} == {1 if group == "orders" else 0}


def test_control_routes(partner, client):
    with pytest.raises(PartnerError) as refused:
        client.set_faults("callbacks", rate_limit_per_s=5)
    assert refused.value.status == 400
    faults = client.set_faults("accounting", latency_ms=5)
    assert faults["accounting"].latency_ms == 5 and faults["payments"].latency_ms == 0
    assert client.faults()["accounting"].latency_ms == 5
    _callback(partner)
    client.reset()
    assert client.callbacks().callbacks == [] and client.faults()["accounting"].latency_ms == 0
    assert _send(partner.port, "GET", "/_partner/records/ledger")[0] == 404
    assert _send(partner.port, "GET", "/nowhere")[0] == 404
    status, headers, _ = _send(partner.port, "GET", "/callbacks/acme")
    assert status == 405 and headers["Allow"] == "POST"


def _wait_for(path: Path, text: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {path} after {WAIT_S} s: {content!r}")


def test_the_cli_serves_in_the_foreground_prints_each_request_and_stops_on_ctrl_c(tmp_path):
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "stack.cli", "partner", "--callback-secret", f"acme={SECRET}"],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        banner = _wait_for(err, "Ctrl-C stops it")
        port = int(banner.split("http://127.0.0.1:")[1].split()[0])
        delivery = standard_webhooks_delivery("invoice.paid", SECRET)
        assert _send(port, "POST", "/callbacks/acme", delivery.body, delivery.headers)[0] == 200
        line = _wait_for(out, "/callbacks/acme")
        assert "callbacks" in line and "200" in line and "verified" in line and "NOT" not in line
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=WAIT_S) == 0
        assert "partner simulator stopped" in err.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--error-rate", "2"], "--error-rate"),
        (["--callback-secret", "acme"], "--callback-secret"),
    ],
)
def test_the_cli_refuses_bad_options_in_one_line(args, fragment):
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", "partner", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0]
