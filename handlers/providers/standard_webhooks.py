"""Standard Webhooks (https://www.standardwebhooks.com, the scheme of Svix and a growing number of
senders).

Signature: headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``,
space-separated ``v1,<base64>`` entries (a sender rolling its secret sends several; other versions
such as ``v1a`` are ignored). Each ``v1`` is base64(HMAC-SHA256(key, "{id}.{timestamp}.{raw body}")),
the key being the secret's bytes, or for a ``whsec_`` secret the base64 after the prefix. Accepted
when any ``v1`` entry matches and the timestamp is within 300 s of now, either way.

Delivery: ``webhook-id`` is the delivery id (a sender's retry repeats it: the dedup key); the
topic is the payload's ``type``; the spec names no ordering key, so all of one tenant's Standard
Webhooks deliveries share one message group (see docs/providers.md for why); no API version.

Payloads are ``{"type": …, "timestamp": RFC 3339, "data": {…}}``: one envelope model validates
every type, and the event is stored generically (the ``data`` shape is the sender's own).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Mapping
from typing import Any

from pydantic import AwareDatetime, Field

from handlers.providers.base import (
    MAX_DELIVERY_ID_LENGTH,
    MAX_TOPIC_LENGTH,
    Delivery,
    Provider,
    ProviderModel,
    SecretError,
    SignatureError,
    any_matches,
    envelope_field,
    hmac_sha256,
    required_header,
)

NAME = "standard-webhooks"
TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"
# One message group per tenant for this provider: ``{tenant}:standard-webhooks``.
ORDERING_KEY = NAME
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def signing_key(secret: str) -> bytes:
    """The HMAC key: base64 after ``whsec_``, else the secret's own UTF-8 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode("utf-8")
    encoded = secret[len(SECRET_PREFIX) :].strip()
    try:
        # Padding is optional in the wild (the reference implementations add it back).
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f"the {NAME} signing secret is not base64 after {SECRET_PREFIX}") from None
    if not key:
        raise SecretError(f"the {NAME} signing secret is empty")
    return key


def _header(headers: Mapping[str, str], name: str) -> str:
    value = (headers.get(name) or "").strip()
    if not value:
        raise SignatureError(f"missing {name} header")
    return value


def _v1_signatures(header: str) -> list[str]:
    signatures = []
    for entry in header.split():
        version, sep, signature = entry.partition(",")
        if sep and version == "v1" and signature:
            signatures.append(signature)
    return signatures


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    message_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signature_header = _header(headers, "webhook-signature")
    if not _TIMESTAMP.match(timestamp):
        raise SignatureError("webhook-timestamp is not Unix seconds")
    signatures = _v1_signatures(signature_header)
    if not signatures:
        raise SignatureError("webhook-signature has no v1 entry")
    signed = message_id.encode("utf-8", "surrogateescape") + b"." + timestamp.encode("ascii") + b"." + body
    expected = base64.b64encode(hmac_sha256(signing_key(secret), signed))
    if not any_matches(expected, signatures):
        raise SignatureError("no matching v1 signature in webhook-signature")
    # After the HMAC, as for Stripe: the timestamp is then known authentic, and a signed old one is
    # a replay (a future one, a sender clock far off or a message prepared for later).
    current = time.time() if now is None else now
    age = current - int(timestamp)
    if age > tolerance:
        raise SignatureError(f"webhook-timestamp is stale: more than {tolerance} s old")
    if age < -tolerance:
        raise SignatureError(f"webhook-timestamp is in the future: more than {tolerance} s ahead")


def describe(headers: Mapping[str, str], document: Mapping[str, Any]) -> Delivery:
    return Delivery(
        NAME,
        topic=envelope_field(document, "type", MAX_TOPIC_LENGTH),
        delivery_id=required_header(headers, "webhook-id", "webhook-id", MAX_DELIVERY_ID_LENGTH),
        ordering_key=ORDERING_KEY,
    )


# --- the envelope model ----------------------------------------------------------------------------


class StandardWebhookEvent(ProviderModel):
    """Every Standard Webhooks payload: validated as an envelope, stored generically."""

    type: str = Field(min_length=1, max_length=MAX_TOPIC_LENGTH)
    timestamp: AwareDatetime  # RFC 3339: an offset is required
    data: dict[str, Any]


PROVIDER = Provider(NAME, verify, describe, default_model=StandardWebhookEvent)
