"""Client-side sample deliveries: realistic, signed, deterministic, valid against the DTOs."""

from __future__ import annotations

import ast
import base64
import datetime as dt
import hashlib
import hmac
import json
import random
from pathlib import Path

import pytest

from handlers.providers.registry import model_for
from stack.clients import providers
from stack.clients.providers import ALL_TOPICS, Delivery, make_delivery
from stack.clients.providers.github import GITHUB_EVENTS, github_delivery
from stack.clients.providers.shopify import SHOPIFY_TOPICS, shopify_delivery
from stack.clients.providers.stripe import STRIPE_TYPES, stripe_delivery

SECRET = "whsec_client_side"
# Standard Webhooks secrets are base64 after whsec_: each provider signs with one of its own form.
SECRETS = {name: provider.new_secret() for name, provider in providers.REGISTRY.items()}
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def test_topic_tuples():
    assert SHOPIFY_TOPICS == (
        "orders/create",
        "orders/updated",
        "orders/paid",
        "products/create",
        "products/update",
        "customers/create",
        "app/uninstalled",
    )
    assert STRIPE_TYPES == ("payment_intent.succeeded", "invoice.paid")
    assert GITHUB_EVENTS == ("push",)


@pytest.mark.parametrize("provider, topic", ALL_TOPICS)
@pytest.mark.parametrize("extra_fields", [False, True])
def test_every_topic_validates_against_its_dto(provider, topic, extra_fields):
    for seed in range(20):
        delivery = make_delivery(provider, topic, SECRETS[provider], rng=random.Random(seed), extra_fields=extra_fields)
        model_for(provider, topic).model_validate_json(delivery.body)


def test_deterministic_for_a_seed():
    first = shopify_delivery("orders/create", SECRET, rng=random.Random(42), now=NOW)
    second = shopify_delivery("orders/create", SECRET, rng=random.Random(42), now=NOW)
    other = shopify_delivery("orders/create", SECRET, rng=random.Random(43), now=NOW)
    assert first == second and first.headers == second.headers
    assert first.body != other.body
    s1 = stripe_delivery("invoice.paid", SECRET, rng=random.Random(1), timestamp=1_700_000_000)
    s2 = stripe_delivery("invoice.paid", SECRET, rng=random.Random(1), timestamp=1_700_000_000)
    assert s1 == s2


def test_shopify_headers_and_signature():
    delivery = shopify_delivery(
        "orders/paid",
        SECRET,
        rng=random.Random(1),
        shop="acme.myshopify.com",
        webhook_id="wh-1",
        api_version="2025-07",
        now=NOW,
    )
    assert isinstance(delivery, Delivery)
    h = delivery.headers
    for name in (
        "X-Shopify-Topic",
        "X-Shopify-Hmac-Sha256",
        "X-Shopify-Shop-Domain",
        "X-Shopify-API-Version",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Event-Id",
        "X-Shopify-Triggered-At",
        "Content-Type",
    ):
        assert h[name], name
    assert h["X-Shopify-Topic"] == "orders/paid" and h["X-Shopify-Shop-Domain"] == "acme.myshopify.com"
    assert h["X-Shopify-API-Version"] == "2025-07" and h["X-Shopify-Webhook-Id"] == "wh-1"
    assert h["Content-Type"] == "application/json"
    expected = base64.b64encode(hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).digest()).decode()
    assert h["X-Shopify-Hmac-Sha256"] == expected
    assert delivery.delivery_id == "wh-1" and delivery.group_key == "acme.myshopify.com"


def test_shopify_order_is_realistic():
    order = json.loads(shopify_delivery("orders/create", SECRET, rng=random.Random(5)).body)
    assert isinstance(order["id"], int) and order["line_items"] and order["customer"]["email"]
    assert order["billing_address"]["city"] and order["shipping_address"]["zip"]
    for item in order["line_items"]:
        assert isinstance(item["id"], int) and isinstance(item["price"], str) and "." in item["price"]
    total = sum(float(i["price"]) * i["quantity"] for i in order["line_items"])
    assert order["subtotal_price"] == f"{total:.2f}"


def test_stripe_envelope_and_signature():
    delivery = stripe_delivery(
        "payment_intent.succeeded", SECRET, rng=random.Random(2), account="acct_1", timestamp=1_700_000_000
    )
    event = json.loads(delivery.body)
    assert event["id"].startswith("evt_") and event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["id"].startswith("pi_") and event["account"] == "acct_1"
    v1 = hmac.new(SECRET.encode(), b"1700000000." + delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["Stripe-Signature"] == f"t=1700000000,v1={v1}"
    assert delivery.delivery_id == event["id"] and delivery.group_key == "acct_1"


def test_github_push_and_signature():
    delivery = github_delivery("push", SECRET, rng=random.Random(3), repo="acme/api", delivery_id="d-1")
    push = json.loads(delivery.body)
    assert push["repository"]["full_name"] == "acme/api" and push["commits"]
    assert push["after"] == push["commits"][-1]["id"]
    expected = "sha256=" + hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["X-Hub-Signature-256"] == expected
    assert delivery.headers["X-GitHub-Event"] == "push" and delivery.headers["X-GitHub-Delivery"] == "d-1"
    assert delivery.group_key == "acme/api"


@pytest.mark.parametrize("size", [2_000, 64 * 1024, 250_000, 1_000_000])
def test_padding_to_an_exact_size_stays_valid_and_signed(size):
    delivery = shopify_delivery("orders/create", SECRET, rng=random.Random(1), size_bytes=size)
    assert len(delivery.body) == size
    model_for("shopify", "orders/create").model_validate_json(delivery.body)
    expected = base64.b64encode(hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).digest()).decode()
    assert delivery.headers["X-Shopify-Hmac-Sha256"] == expected


def test_size_below_natural_size_is_refused():
    with pytest.raises(ValueError, match="natural size"):
        shopify_delivery("orders/create", SECRET, rng=random.Random(1), size_bytes=100)


def test_extra_fields_add_unknown_keys():
    plain = json.loads(shopify_delivery("products/create", SECRET, rng=random.Random(1)).body)
    extra = json.loads(shopify_delivery("products/create", SECRET, rng=random.Random(1), extra_fields=True).body)
    assert set(extra) - set(plain)


def test_raw_body_is_signed_as_given():
    body = b'{"hand":"written"}'
    delivery = shopify_delivery("orders/create", SECRET, body=body)
    assert delivery.body == body
    with pytest.raises(ValueError):
        shopify_delivery("orders/create", SECRET, body=body, size_bytes=5000)


def test_unknown_provider_is_refused():
    with pytest.raises(ValueError, match="unknown provider 'paypal': choose one of shopify, stripe"):
        make_delivery("paypal", "x", SECRET)


@pytest.mark.parametrize("path", sorted(Path(providers.__file__).parent.glob("*.py")), ids=lambda p: p.name)
def test_client_side_does_not_import_the_handlers(path):
    tree = ast.parse(path.read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not any(name and name.split(".")[0] == "handlers" for name in imported)
