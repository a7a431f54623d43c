"""Realistic, signed webhook deliveries as Shopify, Stripe and GitHub send them.

Used by ``hookstack send``, the demo burst, the Locust users and the tests. Bodies are
deterministic for a given ``random.Random`` (and fixed ``now``/``timestamp``), can be padded to an
exact byte size and can carry unknown extra fields, which the stack must tolerate.

This module is the *client* side: it deliberately imports nothing from ``handlers`` so a bug
shared by both sides cannot make a broken signature or body look valid.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SHOPIFY_TOPICS: tuple[str, ...] = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "products/create",
    "products/update",
    "customers/create",
    "app/uninstalled",
)
STRIPE_TYPES: tuple[str, ...] = ("payment_intent.succeeded", "invoice.paid")
GITHUB_EVENTS: tuple[str, ...] = ("push",)

JSON_CONTENT_TYPE = "application/json"
PADDING_FIELD = "x_hookstack_padding"

_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Radia", "Ken", "Frances", "Tim")
_LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Perlman", "Thompson", "Allen")
_CITIES = (
    ("Ottawa", "ON", "CA", "K1P 1J1"),
    ("Berlin", "BE", "DE", "10115"),
    ("Austin", "TX", "US", "73301"),
    ("Lyon", "ARA", "FR", "69001"),
    ("Osaka", "27", "JP", "530-0001"),
)
_PRODUCTS = (
    ("Canvas Tote", "19.99"),
    ("Enamel Mug", "12.50"),
    ("Wool Beanie", "24.00"),
    ("Linen Shirt", "58.00"),
    ("Trail Socks", "9.95"),
    ("Brass Pen", "35.00"),
)
_COMMIT_MESSAGES = (
    "Fix flaky retry test",
    "Add order export",
    "Bump dependencies",
    "Refactor signature checks",
    "Document replay",
    "Handle empty line items",
)


@dataclass(frozen=True)
class Delivery:
    """One HTTP delivery: POST ``/webhooks/{provider}`` with ``headers`` and the raw ``body``.

    ``group_key`` is the provider-side ordering key (shop domain, Stripe account, repository);
    an empty string means "no provider key": the stack then orders by tenant.
    """

    provider: str
    topic: str
    body: bytes
    headers: dict[str, str] = field(hash=False)
    delivery_id: str
    group_key: str

    @property
    def path(self) -> str:
        return f"/webhooks/{self.provider}"


# --- signatures -----------------------------------------------------------------------------


def sign_shopify(secret: str, body: bytes) -> str:
    """Value of ``X-Shopify-Hmac-Sha256``: base64(HMAC-SHA256(secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def sign_stripe(secret: str, body: bytes, timestamp: int) -> str:
    """Value of ``Stripe-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>``."""
    signed = str(timestamp).encode() + b"." + body
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def sign_github(secret: str, body: bytes) -> str:
    """Value of ``X-Hub-Signature-256``: ``sha256=<hex HMAC-SHA256(secret, body)>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- body building helpers -------------------------------------------------------------------


def _rng(rng: random.Random | None) -> random.Random:
    return rng if rng is not None else random.Random()


def _now(now: dt.datetime | None) -> dt.datetime:
    value = now or dt.datetime.now(dt.UTC)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _shopify_id(rng: random.Random) -> int:
    # Large like real Shopify ids, but below 2**53 so JavaScript consumers stay exact.
    return rng.randrange(10**12, 10**15)


def _person(rng: random.Random) -> tuple[str, str, str]:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    return first, last, f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.com"


def _address(rng: random.Random, first: str, last: str) -> dict[str, Any]:
    city, province, country, zip_code = rng.choice(_CITIES)
    return {
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "address1": f"{rng.randrange(1, 999)} Market Street",
        "address2": None,
        "city": city,
        "province_code": province,
        "country_code": country,
        "zip": zip_code,
        "phone": None,
        "company": None,
    }


def _money(value: float) -> str:
    return f"{value:.2f}"


def _extra(rng: random.Random) -> dict[str, Any]:
    """Fields no DTO knows about, as providers add them between API versions."""
    return {
        "x_unknown_flag": rng.choice([True, False]),
        "x_unknown_nested": {"level": rng.randrange(5), "tags": ["alpha", "beta"]},
        "x_unknown_note": f"note-{rng.randrange(10**6)}",
    }


def _serialize(body: dict[str, Any], size_bytes: int | None, rng: random.Random) -> bytes:
    raw = json.dumps(body, separators=(",", ":")).encode()
    if size_bytes is None:
        return raw
    overhead = len(f',"{PADDING_FIELD}":""'.encode())
    if size_bytes < len(raw) + overhead:
        raise ValueError(f"size_bytes={size_bytes} is below this body's natural size ({len(raw) + overhead} bytes)")
    pad = size_bytes - len(raw) - overhead
    filler = rng.randbytes((pad + 1) // 2).hex()[:pad]
    padded = raw[:-1] + f',"{PADDING_FIELD}":"{filler}"'.encode() + b"}"
    assert len(padded) == size_bytes
    return padded


# --- Shopify ---------------------------------------------------------------------------------


def _shopify_line_items(rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for _ in range(rng.randrange(1, 4)):
        title, price = rng.choice(_PRODUCTS)
        items.append(
            {
                "id": _shopify_id(rng),
                "product_id": _shopify_id(rng),
                "variant_id": _shopify_id(rng),
                "title": title,
                "variant_title": rng.choice(["S", "M", "L", None]),
                "quantity": rng.randrange(1, 4),
                "price": price,
                "sku": f"SKU-{rng.randrange(10**5):05d}",
                "vendor": "Demo Goods",
                "requires_shipping": True,
                "taxable": True,
                "gift_card": False,
                "total_discount": "0.00",
            }
        )
    return items


def _shopify_order(rng: random.Random, now: dt.datetime, shop: str, topic: str) -> dict[str, Any]:
    first, last, email = _person(rng)
    items = _shopify_line_items(rng)
    subtotal = sum(float(item["price"]) * item["quantity"] for item in items)
    tax = round(subtotal * 0.13, 2)
    order_id = _shopify_id(rng)
    number = rng.randrange(1000, 99999)
    created = now - dt.timedelta(minutes=rng.randrange(0, 120))
    paid = topic == "orders/paid" or rng.random() < 0.7
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{number}",
        "order_number": number,
        "email": email,
        "created_at": _iso(created),
        "updated_at": _iso(now),
        "processed_at": _iso(created),
        "currency": "USD",
        "presentment_currency": "USD",
        "subtotal_price": _money(subtotal),
        "total_tax": _money(tax),
        "total_price": _money(subtotal + tax),
        "total_discounts": "0.00",
        "financial_status": "paid" if paid else "pending",
        "fulfillment_status": None,
        "test": False,
        "source_name": "web",
        "tags": "",
        "note": None,
        "line_items": items,
        "customer": {
            "id": _shopify_id(rng),
            "email": email,
            "first_name": first,
            "last_name": last,
            "created_at": _iso(created),
            "updated_at": _iso(now),
            "state": "enabled",
            "currency": "USD",
        },
        "billing_address": _address(rng, first, last),
        "shipping_address": _address(rng, first, last),
    }


def _shopify_product(rng: random.Random, now: dt.datetime) -> dict[str, Any]:
    title, price = rng.choice(_PRODUCTS)
    product_id = _shopify_id(rng)
    variants = [
        {
            "id": _shopify_id(rng),
            "product_id": product_id,
            "title": size,
            "price": price,
            "sku": f"SKU-{rng.randrange(10**5):05d}-{size}",
            "position": position,
            "inventory_quantity": rng.randrange(0, 200),
            "compare_at_price": None,
            "taxable": True,
            "created_at": _iso(now),
            "updated_at": _iso(now),
        }
        for position, size in enumerate(("S", "M", "L")[: rng.randrange(1, 4)], start=1)
    ]
    return {
        "id": product_id,
        "admin_graphql_api_id": f"gid://shopify/Product/{product_id}",
        "title": title,
        "handle": title.lower().replace(" ", "-"),
        "vendor": "Demo Goods",
        "product_type": "Accessories",
        "status": "active",
        "tags": "demo",
        "body_html": f"<p>{title}, made with care.</p>",
        "created_at": _iso(now - dt.timedelta(days=rng.randrange(1, 90))),
        "updated_at": _iso(now),
        "published_at": _iso(now),
        "variants": variants,
        "options": [{"name": "Size", "position": 1, "values": [v["title"] for v in variants]}],
        "images": [],
    }


def _shopify_customer(rng: random.Random, now: dt.datetime) -> dict[str, Any]:
    first, last, email = _person(rng)
    customer_id = _shopify_id(rng)
    return {
        "id": customer_id,
        "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
        "email": email,
        "first_name": first,
        "last_name": last,
        "phone": None,
        "created_at": _iso(now),
        "updated_at": _iso(now),
        "state": "disabled",
        "verified_email": True,
        "tax_exempt": False,
        "currency": "USD",
        "tags": "",
        "orders_count": 0,
        "total_spent": "0.00",
        "addresses": [
            {**_address(rng, first, last), "id": _shopify_id(rng), "customer_id": customer_id, "default": True}
        ],
    }


def _shopify_shop(rng: random.Random, now: dt.datetime, shop: str) -> dict[str, Any]:
    city, province, country, zip_code = rng.choice(_CITIES)
    name = shop.split(".")[0].replace("-", " ").title()
    return {
        "id": _shopify_id(rng),
        "name": name,
        "email": f"owner@{shop}",
        "domain": shop,
        "myshopify_domain": shop,
        "province_code": province,
        "country_code": country,
        "zip": zip_code,
        "city": city,
        "currency": "USD",
        "iana_timezone": "America/Toronto",
        "plan_name": "basic",
        "created_at": _iso(now - dt.timedelta(days=365)),
        "updated_at": _iso(now),
    }


def shopify_body(
    topic: str,
    *,
    shop: str = "demo-shop.myshopify.com",
    rng: random.Random | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A realistic Shopify payload for ``topic`` (a minimal resource for topics not modelled here)."""
    rng, now = _rng(rng), _now(now)
    kind = topic.split("/")[0]
    if kind == "orders":
        return _shopify_order(rng, now, shop, topic)
    if kind == "products":
        return _shopify_product(rng, now)
    if kind == "customers":
        return _shopify_customer(rng, now)
    if topic == "app/uninstalled":
        return _shopify_shop(rng, now, shop)
    return {"id": _shopify_id(rng), "created_at": _iso(now), "updated_at": _iso(now)}


def shopify_delivery(
    topic: str,
    secret: str,
    *,
    shop: str = "demo-shop.myshopify.com",
    rng: random.Random | None = None,
    webhook_id: str | None = None,
    body: bytes | dict[str, Any] | None = None,
    extra_fields: bool = False,
    size_bytes: int | None = None,
    api_version: str = "2025-10",
    now: dt.datetime | None = None,
) -> Delivery:
    """A signed Shopify delivery with every header of Shopify's delivery structure."""
    rng, now = _rng(rng), _now(now)
    raw = _build_body(body, lambda: shopify_body(topic, shop=shop, rng=rng, now=now), extra_fields, size_bytes, rng)
    webhook_id = webhook_id or _uuid(rng)
    headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign_shopify(secret, raw),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": _uuid(rng),
        "X-Shopify-Triggered-At": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "User-Agent": "Shopify-Captain-Hook",
    }
    return Delivery("shopify", topic, raw, headers, webhook_id, shop)


# --- Stripe ----------------------------------------------------------------------------------


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
    rng = _rng(rng)
    created = int(created if created is not None else time.time())
    body: dict[str, Any] = {
        "id": event_id or _stripe_id(rng, "evt_"),
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": created,
        "type": event_type,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": _stripe_id(rng, "req_"), "idempotency_key": _uuid(rng)},
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
    rng = _rng(rng)
    timestamp = int(timestamp if timestamp is not None else time.time())
    raw = _build_body(
        body,
        lambda: stripe_body(event_type, account=account, rng=rng, created=timestamp, event_id=event_id),
        extra_fields,
        size_bytes,
        rng,
    )
    delivery_id = _json_field(raw, "id") or ""
    headers = {
        "Content-Type": f"{JSON_CONTENT_TYPE}; charset=utf-8",
        "Stripe-Signature": sign_stripe(secret, raw, timestamp),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    return Delivery("stripe", event_type, raw, headers, delivery_id, account or "")


# --- GitHub ----------------------------------------------------------------------------------


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def github_body(
    event: str, *, repo: str = "octo-org/octo-repo", rng: random.Random | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """A GitHub ``push`` payload (a minimal repository event for other names)."""
    rng, now = _rng(rng), _now(now)
    owner, name = repo.split("/", 1)
    repository = {
        "id": rng.randrange(10**7, 10**9),
        "node_id": f"R_{rng.getrandbits(48):x}",
        "name": name,
        "full_name": repo,
        "private": rng.random() < 0.5,
        "owner": {"login": owner, "id": rng.randrange(10**5, 10**8), "type": "Organization"},
        "html_url": f"https://github.com/{repo}",
        "default_branch": "main",
    }
    sender = {"login": rng.choice(_FIRST_NAMES).lower(), "id": rng.randrange(10**5, 10**8), "type": "User"}
    if event != "push":
        return {"action": "created", "repository": repository, "sender": sender}
    commits = []
    for index in range(rng.randrange(1, 4)):
        first, last, email = _person(rng)
        sha = _sha(rng)
        commits.append(
            {
                "id": sha,
                "tree_id": _sha(rng),
                "distinct": True,
                "message": rng.choice(_COMMIT_MESSAGES),
                "timestamp": _iso(now - dt.timedelta(minutes=10 - index)),
                "url": f"https://github.com/{repo}/commit/{sha}",
                "author": {"name": f"{first} {last}", "email": email, "username": first.lower()},
                "committer": {"name": f"{first} {last}", "email": email, "username": first.lower()},
                "added": [],
                "removed": [],
                "modified": [f"src/module_{rng.randrange(20)}.py"],
            }
        )
    before = _sha(rng)
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": commits[-1]["id"],
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{repo}/compare/{before[:12]}...{commits[-1]['id'][:12]}",
        "commits": commits,
        "head_commit": commits[-1],
        "repository": repository,
        "pusher": {"name": sender["login"], "email": f"{sender['login']}@example.com"},
        "sender": sender,
    }


def github_delivery(
    event: str,
    secret: str,
    *,
    repo: str = "octo-org/octo-repo",
    rng: random.Random | None = None,
    delivery_id: str | None = None,
    body: bytes | dict[str, Any] | None = None,
    extra_fields: bool = False,
    size_bytes: int | None = None,
    now: dt.datetime | None = None,
) -> Delivery:
    """A signed GitHub delivery (``X-GitHub-Event``, ``X-GitHub-Delivery``, ``X-Hub-Signature-256``)."""
    rng, now = _rng(rng), _now(now)
    raw = _build_body(body, lambda: github_body(event, repo=repo, rng=rng, now=now), extra_fields, size_bytes, rng)
    delivery_id = delivery_id or _uuid(rng)
    headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": str(rng.randrange(10**8, 10**9)),
        "X-Hub-Signature-256": sign_github(secret, raw),
        "User-Agent": "GitHub-Hookshot/7e1f2a3",
    }
    return Delivery("github", event, raw, headers, delivery_id, repo)


# --- dispatch --------------------------------------------------------------------------------

ALL_TOPICS: tuple[tuple[str, str], ...] = (
    *(("shopify", t) for t in SHOPIFY_TOPICS),
    *(("stripe", t) for t in STRIPE_TYPES),
    *(("github", t) for t in GITHUB_EVENTS),
)


def make_delivery(
    provider: str,
    topic: str,
    secret: str,
    *,
    rng: random.Random | None = None,
    group_key: str | None = None,
    extra_fields: bool = False,
    size_bytes: int | None = None,
) -> Delivery:
    """One delivery for any provider; ``group_key`` is the shop / account / repository."""
    if provider == "shopify":
        return shopify_delivery(
            topic,
            secret,
            rng=rng,
            extra_fields=extra_fields,
            size_bytes=size_bytes,
            **({"shop": group_key} if group_key else {}),
        )
    if provider == "stripe":
        return stripe_delivery(
            topic, secret, rng=rng, account=group_key or None, extra_fields=extra_fields, size_bytes=size_bytes
        )
    if provider == "github":
        return github_delivery(
            topic,
            secret,
            rng=rng,
            extra_fields=extra_fields,
            size_bytes=size_bytes,
            **({"repo": group_key} if group_key else {}),
        )
    raise ValueError(f"unknown provider {provider!r}; known: shopify, stripe, github")


def _build_body(
    body: bytes | dict[str, Any] | None,
    make: Callable[[], dict[str, Any]],
    extra_fields: bool,
    size_bytes: int | None,
    rng: random.Random,
) -> bytes:
    if isinstance(body, bytes):
        if extra_fields or size_bytes is not None:
            raise ValueError("extra_fields/size_bytes apply to generated or dict bodies, not raw bytes")
        return body
    document = dict(body) if body is not None else make()
    if extra_fields:
        document.update(_extra(rng))
    return _serialize(document, size_bytes, rng)


def _json_field(raw: bytes, name: str) -> str | None:
    try:
        value = json.loads(raw).get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
