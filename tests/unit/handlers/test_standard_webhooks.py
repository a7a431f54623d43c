"""Standard Webhooks: the handler's verification against vectors made by the reference library
(``standardwebhooks``, independent of hookstack), then the producer and the worker for the provider.

The reference library verifies against the real clock, so deliveries it checks are signed "now";
the handler is given its clock explicitly."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import time

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from handlers.contract.message import event_id
from handlers.producer import Producer
from handlers.providers.base import SecretError, SignatureError
from handlers.providers.registry import REGISTRY, model_for
from handlers.providers.standard_webhooks import StandardWebhookEvent, signing_key, verify
from handlers.stores.claim_check import PayloadStore
from handlers.stores.provider_secrets import ProviderSecrets
from stack.clients.providers.standard_webhooks import (
    new_secret,
    sign_standard_webhooks,
    standard_webhooks_body,
    standard_webhooks_delivery,
)
from tests.helpers.producer_rig import PARAMETERS, SECRETS, Rig
from tests.helpers.worker_rig import Context, dlq_messages, eid_of, make_worker, projection_items, record, status_of

PROVIDER = "standard-webhooks"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the spec's example secret
BODY = b'{"type":"contact.created","timestamp":"2022-11-03T20:26:10.344522Z","data":{"id":"c_1","note":"caf\xc3\xa9"}}'
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
NOW = 1_700_000_000


def reference_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>`` as the reference library signs (it takes the body as text)."""
    return Webhook(secret).sign(msg_id, dt.datetime.fromtimestamp(timestamp, dt.UTC), body.decode())


def headers(signature: str, *, msg_id: str = MSG_ID, timestamp: int = NOW) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def reference_headers(secret: str = SECRET, *, timestamp: int = NOW, body: bytes = BODY) -> dict[str, str]:
    return headers(reference_signature(secret, MSG_ID, timestamp, body), timestamp=timestamp)


# --- the reference library's deliveries ----------------------------------------------------------


def test_a_delivery_signed_by_the_reference_library_is_accepted():
    verify(SECRET, BODY, reference_headers(), now=NOW)


def test_the_reference_library_agrees_on_a_fresh_delivery():
    now = int(time.time())
    signed = reference_headers(timestamp=now)
    Webhook(SECRET).verify(BODY, signed)  # the vector is valid by the reference's own check
    verify(SECRET, BODY, signed)  # and the handler's default clock accepts it


@pytest.mark.parametrize("age", [0, 1, 299, 300, -1, -299, -300])
def test_within_300_seconds_either_way_is_accepted(age):
    verify(SECRET, BODY, reference_headers(timestamp=NOW - age), now=NOW)


@pytest.mark.parametrize("age", [301, 3600, 10**6])
def test_a_stale_timestamp_is_refused(age):
    with pytest.raises(SignatureError, match="stale"):
        verify(SECRET, BODY, reference_headers(timestamp=NOW - age), now=NOW)


@pytest.mark.parametrize("ahead", [301, 3600])
def test_a_future_timestamp_is_refused(ahead):
    with pytest.raises(SignatureError, match="future"):
        verify(SECRET, BODY, reference_headers(timestamp=NOW + ahead), now=NOW)


def test_a_wrong_secret_is_refused():
    other = "whsec_" + base64.b64encode(b"another secret of 24 bytes").decode()
    with pytest.raises(SignatureError, match="no matching v1 signature"):
        verify(SECRET, BODY, reference_headers(other), now=NOW)


def test_a_tampered_body_is_refused():
    tampered = BODY.replace(b"c_1", b"c_2")
    with pytest.raises(SignatureError, match="no matching v1 signature"):
        verify(SECRET, tampered, reference_headers(), now=NOW)


def test_the_signature_binds_the_id_and_the_timestamp():
    signed = reference_headers()
    with pytest.raises(SignatureError, match="no matching"):
        verify(SECRET, BODY, {**signed, "webhook-id": "msg_other"}, now=NOW)
    with pytest.raises(SignatureError, match="no matching"):
        verify(SECRET, BODY, {**signed, "webhook-timestamp": str(NOW + 1)}, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(missing):
    signed = {k: v for k, v in reference_headers().items() if k != missing}
    with pytest.raises(SignatureError, match=f"^missing {missing} header$"):
        verify(SECRET, BODY, signed, now=NOW)
    with pytest.raises(SignatureError, match=f"^missing {missing} header$"):
        verify(SECRET, BODY, {**signed, missing: "  "}, now=NOW)


def test_reasons_are_distinct():
    reasons = set()
    for case in (
        {"webhook-timestamp": str(NOW - 301)},
        {"webhook-timestamp": str(NOW + 301)},
        {"webhook-signature": "v1,AAAA"},
        {"webhook-signature": "v1a,AAAA"},
        {"webhook-timestamp": "soon"},
    ):
        timestamp = int(case.get("webhook-timestamp", NOW)) if case.get("webhook-timestamp", "").isdigit() else NOW
        signed = {**reference_headers(timestamp=timestamp), **case}
        with pytest.raises(SignatureError) as error:
            verify(SECRET, BODY, signed, now=NOW)
        reasons.add(str(error.value))
    with pytest.raises(SignatureError) as error:
        verify(SECRET, BODY, {}, now=NOW)
    reasons.add(str(error.value))
    assert len(reasons) == 6, reasons


def test_several_entries_one_valid_is_accepted():
    old = "whsec_" + base64.b64encode(b"the secret being rolled away").decode()
    valid = reference_signature(SECRET, MSG_ID, NOW, BODY)
    for signature in (
        f"{reference_signature(old, MSG_ID, NOW, BODY)} {valid}",
        f"{valid} {reference_signature(old, MSG_ID, NOW, BODY)}",
        f"v1a,bm90LWFuLWVkMjU1MTktc2lnbmF0dXJl {valid} v2,whatever",
    ):
        verify(SECRET, BODY, headers(signature), now=NOW)


def test_entries_of_other_versions_only_are_refused():
    valid = reference_signature(SECRET, MSG_ID, NOW, BODY).split(",", 1)[1]
    with pytest.raises(SignatureError, match="no v1 entry"):
        verify(SECRET, BODY, headers(f"v1a,{valid} v2,{valid}"), now=NOW)


@pytest.mark.parametrize("timestamp", ["1700000000.5", "-1700000000", "17e8", "soon"])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(timestamp):
    signed = {**reference_headers(), "webhook-timestamp": timestamp}
    with pytest.raises(SignatureError, match="Unix seconds"):
        verify(SECRET, BODY, signed, now=NOW)


def test_garbage_signatures_are_a_plain_mismatch():
    for signature in ("v1,ünïcode", "v1,", "v1", "v1,not base64!"):
        with pytest.raises(SignatureError):
            verify(SECRET, BODY, headers(signature), now=NOW)


# --- the key -----------------------------------------------------------------------------------


def test_a_whsec_secret_is_base64_after_the_prefix():
    assert signing_key(SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    unpadded = "whsec_" + base64.b64encode(b"sixteen byte key").decode().rstrip("=")
    assert signing_key(unpadded) == b"sixteen byte key"


def test_a_secret_without_the_prefix_is_used_as_its_bytes():
    secret = "a-plain-shared-secret"
    digest = hmac.new(secret.encode(), f"{MSG_ID}.{NOW}.".encode() + BODY, hashlib.sha256).digest()
    verify(secret, BODY, headers("v1," + base64.b64encode(digest).decode()), now=NOW)


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_", "whsec_===="])
def test_an_unusable_whsec_secret_is_a_secret_error_not_a_401(secret):
    with pytest.raises(SecretError):
        verify(secret, BODY, reference_headers(), now=NOW)


# --- the client side's signer, checked by the reference library -----------------------------------


def test_the_client_signer_matches_the_reference():
    assert sign_standard_webhooks(SECRET, MSG_ID, NOW, BODY) == reference_signature(SECRET, MSG_ID, NOW, BODY)


def test_client_deliveries_verify_with_the_reference_library():
    secret = new_secret()
    for seed, topic in enumerate(("contact.created", "contact.updated", "invoice.paid", "user.deleted")):
        delivery = standard_webhooks_delivery(topic, secret, rng=random.Random(seed), extra_fields=seed % 2 == 1)
        assert Webhook(secret).verify(delivery.body, delivery.headers)["type"] == topic
        assert delivery.delivery_id == delivery.headers["webhook-id"] and delivery.delivery_id.startswith("msg_")


def test_a_rolling_client_delivery_carries_one_entry_per_secret():
    old, new = new_secret(), new_secret()
    delivery = standard_webhooks_delivery("invoice.paid", new, rng=random.Random(1), also_signed_with=(old,))
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(delivery.body, delivery.headers)
    Webhook(new).verify(delivery.body, delivery.headers)


def test_the_reference_library_refuses_a_stale_client_delivery():
    delivery = standard_webhooks_delivery("invoice.paid", SECRET, timestamp=int(time.time()) - 301)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(delivery.body, delivery.headers)


def test_generated_secrets_are_whsec_base64_of_32_random_bytes():
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32
        Webhook(secret)  # the reference library takes it


# --- the envelope model -------------------------------------------------------------------------


def envelope(**changes) -> dict:
    document = standard_webhooks_body(
        "contact.created", rng=random.Random(3), now=dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    )
    document.update(changes)
    return document


def test_every_type_has_the_envelope_model_and_it_is_stored_generically():
    for topic in ("contact.created", "invoice.paid", "some.type.nobody.listed"):
        assert model_for(PROVIDER, topic) is StandardWebhookEvent
    event = StandardWebhookEvent.model_validate(envelope(x_new_field=[1]))
    assert event.type == "contact.created" and event.timestamp.tzinfo is not None
    assert event.projection() is None  # the worker keeps it whole, keyed by its event id


@pytest.mark.parametrize(
    "changes",
    [
        {"timestamp": "2026-05-01T12:00:00"},  # RFC 3339 needs an offset
        {"timestamp": "yesterday"},
        {"data": "not an object"},
        {"data": [1, 2]},
        {"type": ""},
        {"type": 7},
    ],
)
def test_an_envelope_that_is_not_the_spec_s_is_a_validation_error(changes):
    with pytest.raises(ValidationError):
        StandardWebhookEvent.model_validate(envelope(**changes))


@pytest.mark.parametrize("field", ["type", "timestamp", "data"])
def test_every_envelope_field_is_required(field):
    document = envelope()
    del document[field]
    with pytest.raises(ValidationError):
        StandardWebhookEvent.model_validate(document)


# --- producer ----------------------------------------------------------------------------------

WH_SECRET = new_secret()
WH_PARAMETER = f"/hookstack/dev/providers/{PROVIDER}/secret"


class Parameters:
    def __init__(self, values: dict[str, str]):
        self.values = values

    def get(self, name, max_age=None, decrypt=None, **_):
        return self.values[name]


def producer_rig(secret: str = WH_SECRET) -> Rig:
    """The shared producer rig with this provider's secret configured beside the others'."""
    rig = Rig()
    names = {**PARAMETERS, PROVIDER: WH_PARAMETER}
    values = {PARAMETERS[p]: SECRETS[p] for p in PARAMETERS} | {WH_PARAMETER: secret}
    rig.producer = Producer(
        rig.settings,
        ProviderSecrets(lambda: Parameters(values), names, 300),
        rig.sqs,
        rig.status,
        PayloadStore(rig.s3, "payloads"),
    )
    return rig


def post(rig: Rig, *args, **kwargs):
    return rig.post(*args, providers=f"shopify,{PROVIDER}", **kwargs)


def contact(seed: int = 1, **kwargs):
    return standard_webhooks_delivery("contact.created", WH_SECRET, rng=random.Random(seed), **kwargs)


def test_the_provider_is_registered():
    assert PROVIDER in REGISTRY and REGISTRY[PROVIDER].name == PROVIDER


def test_a_signed_delivery_is_queued_in_the_tenant_s_group_and_acknowledged():
    rig = producer_rig()
    delivery = contact()
    status, body = post(rig, delivery)
    assert status == 202, body
    eid = "evt_" + hashlib.sha256(f"acme\n{PROVIDER}\n{delivery.delivery_id}".encode()).hexdigest()[:32]
    assert body["id"] == eid and body["status_url"].endswith(f"/dev/events/{eid}")
    [sent] = rig.sqs.sent
    assert sent["MessageGroupId"] == "acme:standard-webhooks"
    assert sent["MessageDeduplicationId"] == eid and sent["MessageBody"] == delivery.body.decode()
    attributes = {k: v["StringValue"] for k, v in sent["MessageAttributes"].items()}
    assert attributes["provider"] == PROVIDER and attributes["topic"] == "contact.created"
    assert attributes["delivery_id"] == delivery.headers["webhook-id"] and "api_version" not in attributes
    [(meta, _)] = rig.status.received
    assert meta.group == "acme:standard-webhooks"


def test_a_sender_retry_maps_to_the_same_event_id():
    rig = producer_rig()
    delivery = contact()
    assert post(rig, delivery)[1]["id"] == post(rig, delivery)[1]["id"]


def test_a_stale_delivery_is_401_with_its_reason():
    rig = producer_rig()
    status, body = post(rig, contact(timestamp=int(time.time()) - 301))
    assert status == 401 and "stale" in body["message"]
    assert rig.sqs.sent == []


def test_a_future_delivery_is_401_with_its_reason():
    status, body = post(producer_rig(), contact(timestamp=int(time.time()) + 301))
    assert status == 401 and "future" in body["message"]


def test_a_wrong_secret_and_a_missing_header_are_401():
    rig = producer_rig()
    status, body = post(rig, standard_webhooks_delivery("invoice.paid", new_secret()))
    assert status == 401 and "no matching v1 signature" in body["message"]
    status, body = post(rig, contact(), drop_headers=("webhook-id",))
    assert status == 401 and body["message"] == "missing webhook-id header"


def test_a_reference_signed_delivery_is_accepted_by_the_producer():
    rig = producer_rig()
    body = json.dumps(standard_webhooks_body("invoice.paid", rng=random.Random(2))).encode()
    timestamp = dt.datetime.now(dt.UTC)
    signature = Webhook(WH_SECRET).sign(MSG_ID, timestamp, body.decode())
    signed = {**headers(signature, timestamp=int(timestamp.timestamp())), "Content-Type": "application/json"}
    status, answer = post(rig, PROVIDER, body, signed)
    assert status == 202, answer
    assert answer["id"] == event_id("acme", PROVIDER, MSG_ID)


def test_a_body_without_a_type_is_400():
    document = standard_webhooks_body("contact.created", rng=random.Random(1))
    del document["type"]
    status, body = post(producer_rig(), contact(body=document))
    assert status == 400 and "'type'" in body["message"]


def test_an_unusable_secret_is_503_so_the_sender_retries():
    status, body = post(producer_rig(secret="whsec_not base64!"), contact())
    assert status == 503 and "retry" in body["message"]


def test_the_provider_must_be_enabled_for_the_tenant():
    rig = producer_rig()
    assert rig.post(contact(), providers="shopify,stripe,github")[0] == 403


# --- worker ------------------------------------------------------------------------------------


def wh_record(body: bytes, topic: str = "contact.created"):
    return record(body, provider=PROVIDER, topic=topic, group="acme:standard-webhooks")


def test_a_delivery_is_processed_and_stored_generically(aws):
    worker, _ = make_worker(aws)
    delivery = contact()
    rec = wh_record(delivery.body)
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    assert status_of(aws, eid_of(rec))["status"] == "PROCESSED"
    [item] = projection_items(aws)
    assert item["id"] == f"acme#event#{eid_of(rec)}" and item["provider"] == PROVIDER
    assert json.loads(item["data"]["payload"]) == json.loads(delivery.body) and item["writes"] == 1


def test_a_second_application_does_not_write(aws):
    worker, _ = make_worker(aws)
    rec = wh_record(contact().body)
    worker.handle({"Records": [rec]}, Context())
    worker.handle({"Records": [rec]}, Context())
    [item] = projection_items(aws)
    assert item["writes"] == 1


@pytest.mark.parametrize(
    "changes, field",
    [({"timestamp": "not a time"}, "timestamp"), ({"data": "none"}, "data"), ({"type": ""}, "type")],
)
def test_an_envelope_schema_mismatch_is_dead_lettered_at_once(aws, changes, field):
    worker, _ = make_worker(aws)
    document = {**json.loads(contact().body), **changes}
    rec = wh_record(json.dumps(document).encode())
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "DEAD_LETTERED" and status["reason"].startswith("schema mismatch")
    assert field in status["reason"]
    [message] = dlq_messages(aws)
    assert message["MessageAttributes"]["dead_letter_kind"]["StringValue"] == "permanent"
    assert projection_items(aws) == []
