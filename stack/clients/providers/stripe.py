"""Stripe as a sender: event envelopes ``{id, object: "event", type, created, data: {object}}``
signed ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{raw body}")>``. The
delivery id is the event ``id``; the ordering key the connected ``account`` (none: the tenant)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import time
from typing import Any

from stack.clients.providers.base import (
    JSON_CONTENT_TYPE,
    ClientProvider,
    Delivery,
    build_body,
    json_field,
    random_uuid,
    rng_or_new,
)

NAME = "stripe"
STRIPE_TYPES: tuple[str, ...] = ("payment_intent.succeeded", "invoice.paid")
ACCOUNTS = tuple(f"acct_1Load{index:02d}Demo{index * 7 % 10}" for index in range(8))


def sign_stripe(secret: str, body: bytes, timestamp: int) -> str:
    """Value of ``Stripe-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>``."""
    signed = str(timestamp).encode() + b"." + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def _stripe_id(rng: random.Random, prefix: str) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(24))


def _stripe_object(event_type: str, rng: random.Random, created: int) -> dict[str, Any]:
    customer = _stripe_id(rng, "cus_")
    amount = rng.randrange(500, 250_000)
    if event_type.startswith("payment_intent."):
        return {
            "id": _stripe_id(rng, "pi_"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "amount_capturable": 0,
            "currency": "usd",
            "customer": customer,
            "status": "succeeded",
            "created": created - rng.randrange(1, 600),
            "livemode": False,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "description": f"Order #{rng.randrange(1000, 99999)}",
            "latest_charge": _stripe_id(rng, "ch_"),
            "payment_method": _stripe_id(rng, "pm_"),
            "payment_method_types": ["card"],
            "metadata": {"order_ref": str(rng.randrange(10**6))},
            "receipt_email": None,
        }
    if event_type.startswith("invoice."):
        return {
            "id": _stripe_id(rng, "in_"),
            "object": "invoice",
            "customer": customer,
            "subscription": _stripe_id(rng, "sub_"),
            "status": "paid",
            "currency": "usd",
            "amount_due": amount,
            "amount_paid": amount,
            "amount_remaining": 0,
            "number": f"{rng.randrange(0x1000, 0xFFFF):X}-{rng.randrange(1, 9999):04d}",
            "created": created - rng.randrange(1, 3600),
            "period_start": created - 30 * 86400,
            "period_end": created,
            "paid": True,
            "livemode": False,
            "billing_reason": "subscription_cycle",
            "hosted_invoice_url": None,
            "metadata": {},
            "lines": {
                "object": "list",
                "has_more": False,
                "data": [
                    {
                        "id": _stripe_id(rng, "il_"),
                        "object": "line_item",
                        "amount": amount,
                        "currency": "usd",
                        "description": "1 × Pro plan (at $%.2f / month)" % (amount / 100),
                        "quantity": 1,
                    }
                ],
            },
        }
    return {"id": _stripe_id(rng, "obj_"), "object": event_type.split(".")[0], "created": created}


def stripe_body(
    event_type: str,
    *,
    account: str | None = None,
    rng: random.Random | None = None,
    created: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A Stripe event envelope ``{id, object: "event", type, created, data: {object}}``."""
    rng = rng_or_new(rng)
    created = int(created if created is not None else time.time())
    body: dict[str, Any] = {
        "id": event_id or _stripe_id(rng, "evt_"),
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": created,
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": _stripe_id(rng, "req_"), "idempotency_key": random_uuid(rng)},
        "data": {"object": _stripe_object(event_type, rng, created)},
    }
    if account:
        body["account"] = account
    return body


def stripe_delivery(
    event_type: str,
    secret: str,
    *,
    account: str | None = None,
    rng: random.Random | None = None,
    body: bytes | dict[str, Any] | None = None,
    timestamp: int | None = None,
    event_id: str | None = None,
    extra_fields: bool = False,
    size_bytes: int | None = None,
) -> Delivery:
    """A signed Stripe delivery. ``timestamp`` (default: now) is the signed ``t=``; Stripe refuses
    anything older than 300 s, so pass an old one to test replay protection."""
    rng = rng_or_new(rng)
    timestamp = int(timestamp if timestamp is not None else time.time())
    raw = build_body(
        body,
        lambda: stripe_body(event_type, account=account, rng=rng, created=timestamp, event_id=event_id),
        extra_fields,
        size_bytes,
        rng,
    )
    delivery_id = json_field(raw, "id") or ""
    headers = {
        "Content-Type": f"{JSON_CONTENT_TYPE}; charset=utf-8",
        "Stripe-Signature": sign_stripe(secret, raw, timestamp),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    return Delivery("stripe", event_type, raw, headers, delivery_id, account or "")


class Stripe(ClientProvider):
    name = NAME
    topics = STRIPE_TYPES
    default_topic = "payment_intent.succeeded"
    group_key_name = "account"
    sample_group_keys = ACCOUNTS

    def body(
        self,
        topic: str,
        *,
        rng: random.Random | None = None,
        group_key: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        created = int(now.timestamp()) if now is not None else None
        return stripe_body(topic, account=group_key or None, rng=rng, created=created)

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
        return stripe_delivery(
            topic,
            secret,
            account=group_key or None,
            rng=rng,
            body=body,
            timestamp=int(now.timestamp()) if now is not None else None,
            event_id=delivery_id,
            extra_fields=extra_fields,
            size_bytes=size_bytes,
        )

    def group_key(self, label: str) -> str:
        return "acct_" + "".join(c for c in label if c.isalnum())

    def poison_body(self, original: dict[str, Any], group_key: str) -> dict[str, Any]:
        return {
            "id": original["id"],
            "type": original["type"],
            "created": original["created"],
            "account": group_key,
            "data": {"object": {"id": "not-an-object"}},
        }


PROVIDER = Stripe()
