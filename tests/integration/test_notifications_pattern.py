"""The notifications pattern end to end on the embedded target: a job reaches its final status,
the results function publishes to the completions topic, the topic's SQS subscription feeds the
callback queue, and the callback sender POSTs a signed Standard Webhooks callback to the tenant's
subscribed URL (the partner simulator's callback endpoint), retried with backoff through an outage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from stack.clients.providers.standard_webhooks import new_secret
from stack.clients.webhook_client import ApiClient
from stack.config import load_config
from stack.deploy.outputs import StackOutputs, tenant_token
from stack.partner.process import PartnerProcess, running_partner
from stack.partner.records import CallbackRecords
from tests.helpers.private_stage import private_stage

pytestmark = pytest.mark.integration

STAGE = "notify"
TENANT = "demo"  # the default config's tenant
WAIT_S = 90.0  # upper bound of any wait for a callback
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def notify_home(tmp_path_factory) -> Iterator[tuple[StackOutputs, Path]]:
    # A 1 s backoff base keeps the retries of the outage test short; a cache of 0 lets a changed
    # subscription take effect at once.
    config = load_config(
        stage=STAGE, patterns=["jobs", "notifications"], callback_backoff_seconds=1, secret_cache_seconds=0
    )
    with private_stage(tmp_path_factory, config) as stage_and_home:
        yield stage_and_home


@pytest.fixture(scope="module")
def secret() -> str:
    return new_secret()


@pytest.fixture(scope="module")
def partner(secret) -> Iterator[PartnerProcess]:
    with running_partner(callback_secrets={TENANT: secret}) as running:
        yield running


@pytest.fixture(scope="module")
def api(notify_home) -> Iterator[ApiClient]:
    client = ApiClient(notify_home[0].api_url, tenant_token(notify_home[0]))
    yield client
    client.close()


def _hookstack(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOOKSTACK_HOME": str(home)}
    command = [sys.executable, "-m", "stack.cli", *args, "--stage", STAGE]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _subscribe(home: Path, url: str, secret: str) -> None:
    answer = _hookstack(home, "subscribe", "--tenant", TENANT, "--url", url, "--secret", secret)
    assert answer.returncode == 0, answer.stderr
    assert secret not in answer.stdout + answer.stderr  # a given secret is never echoed


def _complete_one_job(api: ApiClient, home: Path) -> str:
    job = {"reference": uuid.uuid4().hex, "customer": "c1", "type": "import", "data": {"records": []}}
    accepted = api.request("POST", "/jobs", json.dumps(job).encode(), JSON)
    assert accepted.status == 202, accepted.json()
    consumer = _hookstack(
        home,
        "consumer",
        "--handler",
        "stack.jobs_consumer.sample_job:insert_customer_records",
        "--max-jobs",
        "1",
        "--idle-exit",
        "20",
    )
    assert consumer.returncode == 0, consumer.stderr[-2000:]
    return accepted.json()["id"]


def _callbacks_of(records: CallbackRecords, job_id: str) -> list:
    return [c for c in records.callbacks if job_id in c.body]


class _Receiver(BaseHTTPRequestHandler):
    """A callback endpoint that keeps each request's raw headers and body."""

    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", _Receiver.received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} within {WAIT_S} s")


def test_a_completed_job_is_a_signed_callback_the_tenant_verifies(notify_home, api, partner, secret, receiver):
    stage, home = notify_home
    _subscribe(home, partner.client.callback_url(TENANT), secret)
    job_id = _complete_one_job(api, home)

    records = partner.client.wait_for_deliveries(1, timeout_s=WAIT_S)
    (callback,) = _callbacks_of(records, job_id)
    assert callback.verified and callback.status == 200, callback.reason
    event = json.loads(callback.body)
    assert event["type"] == "job.completed"
    assert event["data"]["id"] == job_id and event["data"]["status"] == "SUCCEEDED"
    assert event["data"]["result"] == {"inserted": 0}
    signed = {
        "webhook-id": callback.webhook_id,
        "webhook-timestamp": callback.webhook_timestamp,
        "webhook-signature": callback.webhook_signature,
    }
    assert Webhook(secret).verify(callback.body, signed)["data"]["id"] == job_id  # the public library agrees

    # And the raw bytes as sent, at a receiver of our own, checked with the same library.
    url, received = receiver
    _subscribe(home, url, secret)
    second = _complete_one_job(api, home)
    headers, body = _wait_for(lambda: next((r for r in received if second.encode() in r[1]), None), "no callback")
    verified = Webhook(secret).verify(body, headers)
    assert verified["data"]["id"] == second
    assert headers["webhook-id"].startswith("msg_")
    listed = _hookstack(home, "subscriptions")
    assert listed.returncode == 0 and url in listed.stdout and secret not in listed.stdout + listed.stderr


def test_a_callback_in_an_outage_is_retried_then_delivered_once(notify_home, api, partner, secret):
    stage, home = notify_home
    _subscribe(home, partner.client.callback_url(TENANT), secret)
    partner.client.set_faults("callbacks", outage=True)
    try:
        job_id = _complete_one_job(api, home)

        def retried() -> list | None:
            attempts = _callbacks_of(partner.client.callbacks(), job_id)
            return attempts if len(attempts) >= 2 else None

        failed = _wait_for(retried, "fewer than 2 failed attempts")
        assert all(a.status == 503 and a.verified for a in failed)
    finally:
        partner.client.clear_faults("callbacks")
    delivered = _wait_for(
        lambda: next(
            (d for d in partner.client.callbacks().deliveries if d.webhook_id == failed[0].webhook_id and d.delivered),
            None,
        ),
        "the callback was not delivered after the outage",
    )
    assert delivered.attempts >= 3
    attempts = _callbacks_of(partner.client.callbacks(), job_id)
    assert {a.webhook_id for a in attempts} == {delivered.webhook_id}  # every retry is the same delivery
    assert sum(1 for a in attempts if a.status == 200) == 1
