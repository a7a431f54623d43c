"""Standard Webhooks signing, the sender's side of ``handlers.providers.standard_webhooks`` (same
key rules: ``signing_key``). ``webhook-signature`` is ``v1,<base64 HMAC-SHA256(key,
"{webhook-id}.{webhook-timestamp}.{body}")>``."""

from __future__ import annotations

import base64
import time

from handlers.providers.base import hmac_sha256
from handlers.providers.standard_webhooks import signing_key

JSON_CONTENT_TYPE = "application/json"


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac_sha256(signing_key(secret), signed)).decode("ascii")


def signed_headers(secret: str, webhook_id: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The headers of one attempt: signed at send time, so a retry hours later is not stale."""
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": JSON_CONTENT_TYPE,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, timestamp, body),
    }
