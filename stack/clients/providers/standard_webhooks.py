"""Standard Webhooks (https://www.standardwebhooks.com) as a sender, the way Svix and others send.

Headers ``webhook-id`` (``msg_…``: the delivery id, repeated on a retry), ``webhook-timestamp``
(Unix seconds) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{raw
body}")>``, several space-separated while a secret rolls. The key is the base64 after ``whsec_``
(the form secrets are issued in; hookstack generates them so), else the secret's UTF-8 bytes.
Payloads ``{"type": …, "timestamp": RFC 3339, "data": {…}}``; the topic is ``type``.

The spec names no ordering key: the stack keeps one message group per tenant for this provider,
so every delivery's ``group_key`` is ``standard-webhooks`` (docs/providers.md says why).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import random
import secrets as random_secrets
import time
from typing import Any

from stack.clients.providers.base import (
    JSON_CONTENT_TYPE,
    ClientProvider,
    Delivery,
    build_body,
    iso,
    now_or_utc,
    person,
    rng_or_new,
)

NAME = "standard-webhooks"
SECRET_PREFIX = "whsec_"
STANDARD_WEBHOOKS_TYPES: tuple[str, ...] = ("contact.created", "contact.updated", "invoice.paid")
GROUP_KEY = NAME  # one group per tenant: ``{tenant}:standard-webhooks``
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PLANS = (("Starter", 900), ("Team", 2900), ("Business", 9900))


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes, the form the reference libraries take."""
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key: the base64 after ``whsec_``, else the secret's UTF-8 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError(f"a {NAME} secret starting with {SECRET_PREFIX} must be base64 after it") from None


def sign_standard_webhooks(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``webhook-signature`` entry: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode("ascii")


def _id(rng: random.Random, prefix: str, length: int = 27) -> str:
    return prefix + "".join(rng.choice(_BASE62) for _ in range(length))


def _timestamp(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, microseconds kept, as the spec's example."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _data(event_type: str, rng: random.Random, now: dt.datetime) -> dict[str, Any]:
    kind = event_type.split(".")[0]
    if kind == "contact":
        first, last, email = person(rng)
        created = now - dt.timedelta(days=rng.randrange(0, 400)) if event_type.endswith(".updated") else now
        return {
            "id": _id(rng, "cont_", 20),
            "type": "contact",
            "email": email,
            "first_name": first,
            "last_name": last,
            "phone": None,
            "tags": rng.sample(["newsletter", "trial", "customer", "partner", "vip"], rng.randrange(0, 3)),
            "created_at": iso(created),
            "updated_at": iso(now),
        }
    if kind == "invoice":
        plan, price = rng.choice(_PLANS)
        seats = rng.randrange(1, 25)
        return {
            "id": _id(rng, "inv_", 20),
            "type": "invoice",
            "customer_id": _id(rng, "cus_", 20),
            "number": f"INV-{rng.randrange(1, 99999):05d}",
            "status": "paid",
            "currency": "usd",
            "amount_due": price * seats,
            "amount_paid": price * seats,
            "lines": [{"description": f"{plan} plan × {seats} seats", "quantity": seats, "unit_amount": price}],
            "period_start": iso(now - dt.timedelta(days=30)),
            "period_end": iso(now),
            "paid_at": iso(now),
        }
    return {"id": _id(rng, f"{kind}_", 20), "type": kind, "created_at": iso(now)}


def standard_webhooks_body(
    event_type: str, *, rng: random.Random | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The envelope ``{"type", "timestamp", "data"}`` with a realistic ``data`` for ``event_type``."""
    rng, now = rng_or_new(rng), now_or_utc(now)
    return {"type": event_type, "timestamp": _timestamp(now), "data": _data(event_type, rng, now)}


def standard_webhooks_delivery(
    event_type: str,
    secret: str,
    *,
    rng: random.Random | None = None,
    webhook_id: str | None = None,
    body: bytes | dict[str, Any] | None = None,
    timestamp: int | None = None,
    also_signed_with: tuple[str, ...] = (),
    extra_fields: bool = False,
    size_bytes: int | None = None,
    now: dt.datetime | None = None,
) -> Delivery:
    """A signed Standard Webhooks delivery. ``timestamp`` (default: now) is the signed
    ``webhook-timestamp``: receivers refuse one more than 300 s off, so pass an old one to test
    replay protection. ``also_signed_with``: more secrets, one more ``v1`` entry each (a sender
    rolling its secret signs with the old and the new one)."""
    rng = rng_or_new(rng)
    timestamp = int(timestamp if timestamp is not None else (now.timestamp() if now is not None else time.time()))
    moment = now_or_utc(now if now is not None else dt.datetime.fromtimestamp(timestamp, dt.UTC))
    raw = build_body(
        body, lambda: standard_webhooks_body(event_type, rng=rng, now=moment), extra_fields, size_bytes, rng
    )
    webhook_id = webhook_id or _id(rng, "msg_")
    signatures = [sign_standard_webhooks(s, webhook_id, timestamp, raw) for s in (*also_signed_with, secret)]
    headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
        "User-Agent": "Standard-Webhooks-Sender/1.0 (hookstack)",
    }
    return Delivery(NAME, event_type, raw, headers, webhook_id, GROUP_KEY)


class StandardWebhooks(ClientProvider):
    name = NAME
    topics = STANDARD_WEBHOOKS_TYPES
    default_topic = "contact.created"
    group_key_name = "endpoint"  # the tenant's one endpoint: a single ordered stream
    sample_group_keys = (GROUP_KEY,)
    drift_fields = ("data", "timestamp")

    def body(
        self,
        topic: str,
        *,
        rng: random.Random | None = None,
        group_key: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        return standard_webhooks_body(topic, rng=rng, now=now)

    def delivery(
        self,
        topic: str,
        secret: str,
        *,
        rng: random.Random | None = None,
        group_key: str | None = None,
        delivery_id: str | None = None,
        body: bytes | dict[str, Any] | None = None,
        extra_fields: bool = False,
        size_bytes: int | None = None,
        now: dt.datetime | None = None,
    ) -> Delivery:
        return standard_webhooks_delivery(
            topic,
            secret,
            rng=rng,
            webhook_id=delivery_id,
            body=body,
            extra_fields=extra_fields,
            size_bytes=size_bytes,
            now=now,
        )

    def group_key(self, label: str) -> str:
        return GROUP_KEY

    def poison_body(self, original: dict[str, Any], group_key: str) -> dict[str, Any]:
        return {"type": original["type"], "timestamp": "not a timestamp", "data": "not an object"}

    def new_secret(self) -> str:
        return new_secret()


PROVIDER = StandardWebhooks()
