"""Signature schemes, with expected values computed here directly with hmac/hashlib."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from handlers.providers.base import SignatureError
from handlers.providers.github import verify as verify_github
from handlers.providers.shopify import verify as verify_shopify
from handlers.providers.stripe import verify as verify_stripe
from stack.clients.providers.github import sign_github
from stack.clients.providers.shopify import sign_shopify
from stack.clients.providers.stripe import sign_stripe

SECRET = "s3cr3t-key"
BODY = b'{"id":820982911946154508,"total_price":"19.99","note":"caf\xc3\xa9"}'


def shopify_vector(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def github_vector(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stripe_v1(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# --- known-answer: the digest of a fixed input never changes ------------------------------------


def test_known_answer_vector():
    # HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), a published test value.
    digest = hmac.new(b"key", b"The quick brown fox jumps over the lazy dog", hashlib.sha256).hexdigest()
    assert digest == "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    verify_github("key", b"The quick brown fox jumps over the lazy dog", {"x-hub-signature-256": "sha256=" + digest})


# --- Shopify -----------------------------------------------------------------------------------


def test_shopify_valid():
    verify_shopify(SECRET, BODY, {"x-shopify-hmac-sha256": shopify_vector(SECRET, BODY)})


def test_shopify_wrong_secret():
    with pytest.raises(SignatureError, match="mismatch"):
        verify_shopify(SECRET, BODY, {"x-shopify-hmac-sha256": shopify_vector("other", BODY)})


def test_shopify_tampered_body():
    with pytest.raises(SignatureError):
        verify_shopify(SECRET, BODY + b" ", {"x-shopify-hmac-sha256": shopify_vector(SECRET, BODY)})


def test_shopify_hex_instead_of_base64_is_refused():
    hexed = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError):
        verify_shopify(SECRET, BODY, {"x-shopify-hmac-sha256": hexed})


@pytest.mark.parametrize("value", ["", None, "ünïcode-garbage"])
def test_shopify_missing_or_garbage_header(value):
    headers = {} if value is None else {"x-shopify-hmac-sha256": value}
    with pytest.raises(SignatureError):
        verify_shopify(SECRET, BODY, headers)


# --- GitHub ------------------------------------------------------------------------------------


def test_github_valid():
    verify_github(SECRET, BODY, {"x-hub-signature-256": github_vector(SECRET, BODY)})


def test_github_wrong_secret_and_tampered_body():
    with pytest.raises(SignatureError):
        verify_github(SECRET, BODY, {"x-hub-signature-256": github_vector("other", BODY)})
    with pytest.raises(SignatureError):
        verify_github(SECRET, BODY.replace(b"19.99", b"0.01"), {"x-hub-signature-256": github_vector(SECRET, BODY)})


def test_github_needs_the_sha256_prefix():
    bare = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError):
        verify_github(SECRET, BODY, {"x-hub-signature-256": bare})
    with pytest.raises(SignatureError, match="missing"):
        verify_github(SECRET, BODY, {})


# --- Stripe ------------------------------------------------------------------------------------


def test_stripe_valid():
    now = int(time.time())
    verify_stripe(SECRET, BODY, {"stripe-signature": f"t={now},v1={stripe_v1(SECRET, BODY, now)}"}, now=now)


def test_stripe_several_v1_any_may_match():
    now = 1_700_000_000
    header = f"t={now},v1={stripe_v1('old-secret', BODY, now)},v1={stripe_v1(SECRET, BODY, now)},v0=deadbeef"
    verify_stripe(SECRET, BODY, {"stripe-signature": header}, now=now)


def test_stripe_wrong_secret_and_tampered_body():
    now = 1_700_000_000
    with pytest.raises(SignatureError, match="mismatch"):
        verify_stripe(SECRET, BODY, {"stripe-signature": f"t={now},v1={stripe_v1('x', BODY, now)}"}, now=now)
    with pytest.raises(SignatureError, match="mismatch"):
        verify_stripe(SECRET, BODY + b"\n", {"stripe-signature": f"t={now},v1={stripe_v1(SECRET, BODY, now)}"}, now=now)


def test_stripe_signature_binds_the_timestamp():
    now = 1_700_000_000
    header = f"t={now + 1},v1={stripe_v1(SECRET, BODY, now)}"
    with pytest.raises(SignatureError, match="mismatch"):
        verify_stripe(SECRET, BODY, {"stripe-signature": header}, now=now)


@pytest.mark.parametrize("age, ok", [(0, True), (299, True), (300, True), (301, False), (3600, False), (-301, False)])
def test_stripe_tolerance_is_300_seconds(age, ok):
    now = 1_700_000_000
    timestamp = now - age
    headers = {"stripe-signature": f"t={timestamp},v1={stripe_v1(SECRET, BODY, timestamp)}"}
    if ok:
        verify_stripe(SECRET, BODY, headers, now=now)
    else:
        with pytest.raises(SignatureError, match="tolerance"):
            verify_stripe(SECRET, BODY, headers, now=now)


def test_stripe_default_clock_refuses_an_old_timestamp():
    old = int(time.time()) - 1000
    with pytest.raises(SignatureError, match="tolerance"):
        verify_stripe(SECRET, BODY, {"stripe-signature": f"t={old},v1={stripe_v1(SECRET, BODY, old)}"})


@pytest.mark.parametrize("header", ["", "v1=abc", "t=123", "t=abc,v1=abc", "garbage", "t=1,v0=abc"])
def test_stripe_malformed_headers(header):
    with pytest.raises(SignatureError):
        verify_stripe(SECRET, BODY, {"stripe-signature": header} if header else {}, now=1)


# --- client-side signers agree with the independent vectors --------------------------------------


def test_delivery_signers_match_independent_vectors():
    assert sign_shopify(SECRET, BODY) == shopify_vector(SECRET, BODY)
    assert sign_github(SECRET, BODY) == github_vector(SECRET, BODY)
    assert sign_stripe(SECRET, BODY, 1_700_000_000) == f"t=1700000000,v1={stripe_v1(SECRET, BODY, 1_700_000_000)}"


# --- header case: the producer lower-cases names from both header maps --------------------------


@pytest.mark.parametrize("name", ["X-Shopify-Hmac-Sha256", "x-shopify-hmac-sha256", "X-SHOPIFY-HMAC-SHA256"])
def test_header_case_variants_reach_the_verifier(name):
    from handlers.platform.api_gateway import lowercase_headers

    signature = shopify_vector(SECRET, BODY)
    for event in ({"headers": {name: signature}}, {"multiValueHeaders": {name: [signature]}}):
        verify_shopify(SECRET, BODY, lowercase_headers(event))
