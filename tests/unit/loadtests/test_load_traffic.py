"""What the load users send, and where the CLI lets load go."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random

import pytest

from loadtests.cli import check_url, is_loopback_url
from loadtests.model.traffic import (
    UNKNOWN_SHOPIFY_TOPICS,
    BodySizes,
    ProviderTraffic,
    RetryMemory,
)
from stack.clients.providers.shopify import SHOPS

SECRET = "shpss_load"


def test_sizes_span_natural_bodies_to_just_under_the_queue_limit():
    sizes = BodySizes(256 * 1024)
    rng = random.Random(7)
    picks = [sizes.pick(rng) for _ in range(20_000)]
    natural = sum(1 for p in picks if p is None) / len(picks)
    padded = [p for p in picks if p is not None]
    assert 0.78 < natural < 0.82
    assert min(padded) >= 4 * 1024
    assert max(padded) <= int(256 * 1024 * 0.97)
    near_limit = sum(1 for p in padded if p >= 256 * 1024 * 0.85) / len(picks)
    assert 0.015 < near_limit < 0.025


def test_tiny_limits_are_refused():
    with pytest.raises(ValueError):
        BodySizes(1000)


def test_shopify_deliveries_are_signed_sized_and_spread_over_shops():
    traffic = ProviderTraffic(SECRET, random.Random(3), BodySizes(256 * 1024))
    deliveries = [traffic.delivery("shopify", "orders/create") for _ in range(300)]
    for delivery in deliveries:
        digest = hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).digest()
        assert delivery.headers["X-Shopify-Hmac-Sha256"] == base64.b64encode(digest).decode()
        assert delivery.group_key in SHOPS
        assert len(delivery.body) < 256 * 1024
    assert len({d.headers["X-Shopify-Webhook-Id"] for d in deliveries}) == 300
    assert len({d.group_key for d in deliveries}) > 5
    assert max(len(d.body) for d in deliveries) > 16 * 1024  # the padded tail shows up
    assert any(b"x_unknown_flag" in d.body for d in deliveries)  # fields no DTO knows


def test_unknown_topics_are_real_shopify_topics_the_worker_lacks():
    from stack.clients.providers.shopify import SHOPIFY_TOPICS

    assert not set(UNKNOWN_SHOPIFY_TOPICS) & set(SHOPIFY_TOPICS)
    assert all("/" in topic for topic in UNKNOWN_SHOPIFY_TOPICS)


def test_stripe_and_github_traffic():
    traffic = ProviderTraffic(SECRET, random.Random(1), BodySizes(256 * 1024))
    assert traffic.delivery("stripe", "invoice.paid").headers["Stripe-Signature"].startswith("t=")
    assert traffic.delivery("github", "push").headers["X-Hub-Signature-256"].startswith("sha256=")


def test_a_retry_is_the_same_delivery_again():
    rng = random.Random(5)
    traffic = ProviderTraffic(SECRET, rng, BodySizes(256 * 1024))
    memory = RetryMemory(capacity=10)
    first = traffic.delivery("shopify", "orders/paid")
    memory.remember(first)
    fresh = traffic.delivery("shopify", "orders/paid")
    assert memory.maybe_retry(fresh, 0.0, rng) == (fresh, False)
    again, retried = memory.maybe_retry(fresh, 0.999, rng)
    assert retried and again is first  # same webhook id, same body, same signature
    shares = [memory.maybe_retry(fresh, 0.3, rng)[1] for _ in range(5000)]
    assert 0.27 < sum(shares) / len(shares) < 0.33


def test_retry_memory_skips_huge_bodies_and_other_providers():
    rng = random.Random(2)
    traffic = ProviderTraffic(SECRET, rng, BodySizes(1024 * 1024))
    memory = RetryMemory()
    big = traffic.delivery("shopify", "orders/create")
    while len(big.body) <= 64 * 1024:
        big = traffic.delivery("shopify", "orders/create")
    memory.remember(big)
    assert len(memory) == 0
    memory.remember(traffic.delivery("stripe", "invoice.paid"))
    fresh = traffic.delivery("shopify", "orders/create")
    assert memory.maybe_retry(fresh, 0.999, rng) == (fresh, False)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:4566/dev", True),
        ("http://127.8.0.3/x", True),
        ("http://[::1]:80/", True),
        ("http://localhost:8080/dev", True),
        ("http://abc123.execute-api.localhost:4566/dev", True),
        ("https://abc123.execute-api.us-east-1.amazonaws.com/dev", False),
        ("http://10.0.0.5/dev", False),
        ("http://0.0.0.0:80/", False),
        ("http://example.com/", False),
    ],
)
def test_loopback_detection(url, loopback):
    assert is_loopback_url(url) is loopback


def test_load_goes_elsewhere_only_with_an_explicit_flag():
    check_url("http://127.0.0.1:1/dev", allow_remote=False)
    with pytest.raises(Exception, match="not this machine.*--allow-remote"):
        check_url("https://abc.execute-api.us-east-1.amazonaws.com/dev", allow_remote=False)
    check_url("https://abc.execute-api.us-east-1.amazonaws.com/dev", allow_remote=True)
    with pytest.raises(Exception, match="not an http"):
        check_url("ftp://127.0.0.1/", allow_remote=False)


def test_traffic_spreads_over_as_many_groups_as_asked():
    traffic = ProviderTraffic(SECRET, random.Random(5), BodySizes(256 * 1024), groups=50)
    keys = {traffic.delivery("shopify", "orders/create").group_key for _ in range(2000)}
    assert len(keys) == 50 and set(SHOPS) <= keys
    assert all(key.endswith(".myshopify.com") for key in keys)
    few = ProviderTraffic(SECRET, random.Random(5), BodySizes(256 * 1024), groups=3)
    assert {few.delivery("shopify", "orders/create").group_key for _ in range(300)} == set(SHOPS[:3])


def test_group_keys_are_distinct_and_a_single_stream_provider_keeps_its_one():
    from stack.clients import providers as client_providers

    github = client_providers.get("github").group_keys(12)
    assert len(github) == len(set(github)) == 12
    assert len(client_providers.get("standard-webhooks").group_keys(20)) == 1
    with pytest.raises(ValueError, match="at least 1"):
        client_providers.get("stripe").group_keys(0)
