"""Provider signature verification over the raw request body. Comparisons are constant-time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

STRIPE_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The delivery is not authentic; ``str(error)`` is a short reason safe to return."""


def _hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def _header_bytes(value: str) -> bytes:
    # compare_digest refuses non-ASCII str; compare bytes so such a header is a plain mismatch.
    return value.strip().encode("utf-8", "surrogateescape")


def verify_shopify(secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> None:
    signature = headers.get("x-shopify-hmac-sha256")
    if not signature:
        raise SignatureError("missing X-Shopify-Hmac-Sha256 header")
    expected = base64.b64encode(_hmac_sha256(secret, body))
    if not hmac.compare_digest(expected, _header_bytes(signature)):
        raise SignatureError("signature mismatch")


def verify_github(secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> None:
    signature = headers.get("x-hub-signature-256")
    if not signature:
        raise SignatureError("missing X-Hub-Signature-256 header")
    expected = b"sha256=" + _hmac_sha256(secret, body).hex().encode("ascii")
    if not hmac.compare_digest(expected, _header_bytes(signature)):
        raise SignatureError("signature mismatch")


def parse_stripe_signature(header: str) -> tuple[int, list[str]]:
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


def verify_stripe(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance: int = STRIPE_TOLERANCE_SECONDS,
) -> None:
    header = headers.get("stripe-signature")
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp, signatures = parse_stripe_signature(header)
    expected = _hmac_sha256(secret, str(timestamp).encode("ascii") + b"." + body).hex().encode("ascii")
    # Check every v1 (Stripe sends several while a secret rolls) without stopping at the first match.
    matched = False
    for candidate in signatures:
        matched |= hmac.compare_digest(expected, _header_bytes(candidate))
    if not matched:
        raise SignatureError("signature mismatch")
    # After the HMAC so the timestamp is known authentic; a signed old timestamp is a replay.
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance} s tolerance")


Verifier = Callable[..., None]

VERIFIERS: dict[str, Verifier] = {
    "shopify": verify_shopify,
    "stripe": verify_stripe,
    "github": verify_github,
}
