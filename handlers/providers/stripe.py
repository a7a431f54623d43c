"""Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`` = HMAC-SHA256(secret, "{t}.{raw body}"),
300 s tolerance; topic (``type``) and delivery id (``id``) in the event envelope, ordering key the
connected ``account`` (else the tenant). Envelopes ``{id, type, created, data: {object}}`` for the
types hookstack models."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from handlers.providers.base import (
    MAX_DELIVERY_ID_LENGTH,
    MAX_TOPIC_LENGTH,
    Delivery,
    Provider,
    ProviderModel,
    SignatureError,
    any_matches,
    envelope_field,
    hmac_sha256,
    non_empty_string,
)
from handlers.stores.projections import Projection

NAME = "stripe"
TOLERANCE_SECONDS = 300


def parse_signature(header: str) -> tuple[int, list[str]]:
    """``t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`` → (timestamp, v1 signatures)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("malformed Stripe-Signature timestamp") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise SignatureError("Stripe-Signature has no timestamp")
    if not signatures:
        raise SignatureError("Stripe-Signature has no v1 signature")
    return timestamp, signatures


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    header = headers.get("stripe-signature")
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp, signatures = parse_signature(header)
    expected = hmac_sha256(secret, str(timestamp).encode("ascii") + b"." + body).hex().encode("ascii")
    # Check every v1 (Stripe sends several while a secret rolls) without stopping at the first match.
    if not any_matches(expected, signatures):
        raise SignatureError("signature mismatch")
    # After the HMAC so the timestamp is known authentic; a signed old timestamp is a replay.
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance} s tolerance")


def describe(headers: Mapping[str, str], document: Mapping[str, Any]) -> Delivery:
    return Delivery(
        NAME,
        topic=envelope_field(document, "type", MAX_TOPIC_LENGTH),
        delivery_id=envelope_field(document, "id", MAX_DELIVERY_ID_LENGTH),
        ordering_key=non_empty_string(document.get("account")),
    )


# --- topic models --------------------------------------------------------------------------------


class PaymentIntent(ProviderModel):
    id: str = Field(pattern=r"^pi_")
    object: Literal["payment_intent"]
    amount: int = Field(ge=0)
    amount_received: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    status: str
    customer: str | None = None
    created: int


class Invoice(ProviderModel):
    id: str = Field(pattern=r"^in_")
    object: Literal["invoice"]
    customer: str
    amount_paid: int = Field(ge=0)
    amount_due: int = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    status: str
    subscription: str | None = None


class PaymentIntentData(ProviderModel):
    object: PaymentIntent


class InvoiceData(ProviderModel):
    object: Invoice


class StripeEvent(ProviderModel):
    id: str = Field(pattern=r"^evt_")
    created: int
    livemode: bool = False
    account: str | None = None


class PaymentIntentSucceeded(StripeEvent):
    type: Literal["payment_intent.succeeded"]
    data: PaymentIntentData

    def projection(self) -> Projection:
        intent = self.data.object
        return Projection(
            "payment_intent",
            intent.id,
            {
                "status": intent.status,
                "amount": intent.amount,
                "amount_received": intent.amount_received,
                "currency": intent.currency,
                "customer": intent.customer,
                "stripe_event": self.id,
                "account": self.account,
            },
        )


class InvoicePaid(StripeEvent):
    type: Literal["invoice.paid"]
    data: InvoiceData

    def projection(self) -> Projection:
        invoice = self.data.object
        return Projection(
            "invoice",
            invoice.id,
            {
                "status": invoice.status,
                "amount_paid": invoice.amount_paid,
                "amount_due": invoice.amount_due,
                "currency": invoice.currency,
                "customer": invoice.customer,
                "subscription": invoice.subscription,
                "stripe_event": self.id,
                "account": self.account,
            },
        )


TOPIC_MODELS: dict[str, type[ProviderModel]] = {
    "payment_intent.succeeded": PaymentIntentSucceeded,
    "invoice.paid": InvoicePaid,
}


PROVIDER = Provider(NAME, verify, describe, TOPIC_MODELS)
