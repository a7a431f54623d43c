"""The callback receiver: Standard Webhooks signatures made by the public ``standardwebhooks``
library (independent of hookstack) verify; anything else is recorded unverified; the dedup view."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from standardwebhooks.webhooks import Webhook

from stack.clients.providers.standard_webhooks import new_secret
from stack.embedded.gateway.http_server import HttpRequest
from stack.partner.callbacks import CallbackReceiver, CallbackSecretError, parse_callback_secret
from stack.partner.faults import FaultDecision
from stack.partner.records import Moment

HEALTHY = FaultDecision(0.0, None, None, after_effect=False)
DOWN = FaultDecision(0.0, 503, "outage", after_effect=False)
# Fixed, not drawn at import: parametrized ids must be the same on every test worker.
SECRET = "whsec_" + base64.b64encode(b"partner-callback-test-secret-1").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"partner-callback-test-secret-2").decode()


def _signed(secret: str, message_id: str, body: str, *, signature: str | None = None) -> HttpRequest:
    now = dt.datetime.now(dt.UTC)
    headers = [
        ("Host", "partner"),
        ("Content-Type", "application/json"),
        ("webhook-id", message_id),
        ("webhook-timestamp", str(int(now.timestamp()))),
        ("webhook-signature", signature or Webhook(secret).sign(message_id, now, body)),
    ]
    return HttpRequest("POST", "/callbacks/acme", "/callbacks/acme", "", headers, body.encode(), "127.0.0.1", 1, "1.1")


BODY = json.dumps({"type": "job.completed", "timestamp": "2026-01-01T00:00:00Z", "data": {"job": "j1"}})


def test_a_callback_signed_by_the_reference_library_verifies():
    receiver = CallbackReceiver({"acme": SECRET})
    request = _signed(SECRET, "msg_1", BODY)
    Webhook(SECRET).verify(request.body, dict(request.headers))  # the vector is good by the library's own check
    response, record = receiver.serve("acme", request, Moment(1, 2), HEALTHY)
    assert response.status == 200 and json.loads(response.body) == {"received": True, "verified": True}
    assert record.verified and record.reason is None
    assert (record.tenant, record.webhook_id, record.body, record.status) == ("acme", "msg_1", BODY, 200)


@pytest.mark.parametrize(
    ("secret", "body_sent", "reason"),
    [
        (OTHER_SECRET, BODY, "no matching v1 signature"),  # signed with another secret
        (SECRET, BODY.replace("j1", "j2"), "no matching v1 signature"),  # body changed after signing
    ],
)
def test_a_callback_that_does_not_verify_is_recorded_unverified(secret, body_sent, reason):
    receiver = CallbackReceiver({"acme": SECRET})
    signature = Webhook(secret).sign("msg_1", dt.datetime.now(dt.UTC), BODY)
    response, record = receiver.serve(
        "acme", _signed(SECRET, "msg_1", body_sent, signature=signature), Moment(1, 2), HEALTHY
    )
    assert response.status == 200 and json.loads(response.body)["verified"] is False
    assert not record.verified and reason in (record.reason or "")


def test_a_rolling_sender_signing_with_old_and_new_secret_verifies():
    old = new_secret()
    now = dt.datetime.now(dt.UTC)
    both = f"{Webhook(old).sign('msg_1', now, BODY)} {Webhook(SECRET).sign('msg_1', now, BODY)}"
    _, record = CallbackReceiver({"acme": SECRET}).serve(
        "acme", _signed(SECRET, "msg_1", BODY, signature=both), Moment(0, 0), HEALTHY
    )
    assert record.verified


def test_a_tenant_without_a_secret_is_recorded_unverified_until_one_is_set():
    receiver = CallbackReceiver({})
    _, before = receiver.serve("acme", _signed(SECRET, "msg_1", BODY), Moment(0, 0), HEALTHY)
    receiver.set_secret("acme", SECRET)
    _, after = receiver.serve("acme", _signed(SECRET, "msg_1", BODY), Moment(1, 0), HEALTHY)
    assert not before.verified and "no callback secret" in (before.reason or "")
    assert after.verified


def test_the_dedup_view_says_what_arrived_once_in_effect():
    receiver = CallbackReceiver({"acme": SECRET})
    receiver.serve("acme", _signed(SECRET, "msg_1", BODY), Moment(0, 0), DOWN)  # answered 503: the sender retries
    receiver.serve("acme", _signed(SECRET, "msg_1", BODY), Moment(1, 0), HEALTHY)
    receiver.serve("acme", _signed(SECRET, "msg_1", BODY), Moment(2, 0), HEALTHY)  # a duplicate
    receiver.serve("acme", _signed(new_secret(), "msg_2", BODY), Moment(3, 0), HEALTHY)  # never verifies
    records = receiver.records()
    assert [c.status for c in records.callbacks] == [503, 200, 200, 200]
    view = {d.webhook_id: d for d in records.deliveries}
    assert list(view) == ["msg_1", "msg_2"]
    assert (view["msg_1"].attempts, view["msg_1"].delivered, view["msg_1"].delivered_seq) == (3, True, 2)
    assert (view["msg_2"].attempts, view["msg_2"].verified_attempts, view["msg_2"].delivered) == (1, 0, False)
    receiver.reset()
    assert receiver.records().callbacks == [] and receiver.secrets == {"acme": SECRET}


def test_callback_secret_options():
    assert parse_callback_secret(f"acme={SECRET}") == ("acme", SECRET)
    for bad in ("acme", f"={SECRET}", "acme=", "acme=whsec_not*base64", f"ac/me={SECRET}"):
        with pytest.raises(CallbackSecretError):
            parse_callback_secret(bad)
