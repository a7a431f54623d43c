"""Shopify as a sender: realistic Admin API payloads (2025-10 shapes) with every header of
Shopify's delivery structure, signed ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(secret, raw
body)). The ordering key is the shop domain."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import random
from typing import Any

from stack.clients.providers.base import (
    CITIES,
    JSON_CONTENT_TYPE,
    ClientProvider,
    Delivery,
    address,
    build_body,
    iso,
    now_or_utc,
    person,
    random_uuid,
    rng_or_new,
)

NAME = "shopify"
SHOPIFY_TOPICS: tuple[str, ...] = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "products/create",
    "products/update",
    "customers/create",
    "app/uninstalled",
)
DEFAULT_SHOP = "demo-shop.myshopify.com"
SHOPS = tuple(
    f"{name}.myshopify.com"
    for name in (
        "demo-shop",
        "north-outfitters",
        "maple-goods",
        "harbor-coffee",
        "atlas-books",
        "lumen-lighting",
        "pine-and-co",
        "urban-thread",
        "cobalt-gear",
        "meadow-market",
    )
)
_PRODUCTS = (
    ("Canvas Tote", "19.99"),
    ("Enamel Mug", "12.50"),
    ("Wool Beanie", "24.00"),
    ("Linen Shirt", "58.00"),
    ("Trail Socks", "9.95"),
    ("Brass Pen", "35.00"),
)


def sign_shopify(secret: str, body: bytes) -> str:
    """Value of ``X-Shopify-Hmac-Sha256``: base64(HMAC-SHA256(secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode("ascii")


def _shopify_id(rng: random.Random) -> int:
    # Large like real Shopify ids, but below 2**53 so JavaScript consumers stay exact.
    return rng.randrange(10**12, 10**15)


def _money(value: float) -> str:
    return f"{value:.2f}"


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
    first, last, email = person(rng)
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
        "created_at": iso(created),
        "updated_at": iso(now),
        "processed_at": iso(created),
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
            "created_at": iso(created),
            "updated_at": iso(now),
            "state": "enabled",
            "currency": "USD",
        },
        "billing_address": address(rng, first, last),
        "shipping_address": address(rng, first, last),
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
            "created_at": iso(now),
            "updated_at": iso(now),
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
        "created_at": iso(now - dt.timedelta(days=rng.randrange(1, 90))),
        "updated_at": iso(now),
        "published_at": iso(now),
        "variants": variants,
        "options": [{"name": "Size", "position": 1, "values": [v["title"] for v in variants]}],
        "images": [],
    }


def _shopify_customer(rng: random.Random, now: dt.datetime) -> dict[str, Any]:
    first, last, email = person(rng)
    customer_id = _shopify_id(rng)
    return {
        "id": customer_id,
        "admin_graphql_api_id": f"gid://shopify/Customer/{customer_id}",
        "email": email,
        "first_name": first,
        "last_name": last,
        "phone": None,
        "created_at": iso(now),
        "updated_at": iso(now),
        "state": "disabled",
        "verified_email": True,
        "tax_exempt": False,
        "currency": "USD",
        "tags": "",
        "orders_count": 0,
        "total_spent": "0.00",
        "addresses": [
            {**address(rng, first, last), "id": _shopify_id(rng), "customer_id": customer_id, "default": True}
        ],
    }


def _shopify_shop(rng: random.Random, now: dt.datetime, shop: str) -> dict[str, Any]:
    city, province, country, zip_code = rng.choice(CITIES)
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
        "created_at": iso(now - dt.timedelta(days=365)),
        "updated_at": iso(now),
    }


def shopify_body(
    topic: str,
    *,
    shop: str = DEFAULT_SHOP,
    rng: random.Random | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A realistic Shopify payload for ``topic`` (a minimal resource for topics not modelled here)."""
    rng, now = rng_or_new(rng), now_or_utc(now)
    kind = topic.split("/")[0]
    if kind == "orders":
        return _shopify_order(rng, now, shop, topic)
    if kind == "products":
        return _shopify_product(rng, now)
    if kind == "customers":
        return _shopify_customer(rng, now)
    if topic == "app/uninstalled":
        return _shopify_shop(rng, now, shop)
    return {"id": _shopify_id(rng), "created_at": iso(now), "updated_at": iso(now)}


def shopify_delivery(
    topic: str,
    secret: str,
    *,
    shop: str = DEFAULT_SHOP,
    rng: random.Random | None = None,
    webhook_id: str | None = None,
    body: bytes | dict[str, Any] | None = None,
    extra_fields: bool = False,
    size_bytes: int | None = None,
    api_version: str = "2025-10",
    now: dt.datetime | None = None,
) -> Delivery:
    """A signed Shopify delivery with every header of Shopify's delivery structure."""
    rng, now = rng_or_new(rng), now_or_utc(now)
    raw = build_body(body, lambda: shopify_body(topic, shop=shop, rng=rng, now=now), extra_fields, size_bytes, rng)
    webhook_id = webhook_id or random_uuid(rng)
    headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign_shopify(secret, raw),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": random_uuid(rng),
        "X-Shopify-Triggered-At": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "User-Agent": "Shopify-Captain-Hook",
    }
    return Delivery("shopify", topic, raw, headers, webhook_id, shop)


class Shopify(ClientProvider):
    name = NAME
    topics = SHOPIFY_TOPICS
    default_topic = "orders/create"
    group_key_name = "shop"
    sample_group_keys = SHOPS
    large_bodies = True  # big orders and catalogues reach the queue's limit

    def body(
        self,
        topic: str,
        *,
        rng: random.Random | None = None,
        group_key: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        return shopify_body(topic, shop=group_key or DEFAULT_SHOP, rng=rng, now=now)

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
        return shopify_delivery(
            topic,
            secret,
            shop=group_key or DEFAULT_SHOP,
            rng=rng,
            webhook_id=delivery_id,
            body=body,
            extra_fields=extra_fields,
            size_bytes=size_bytes,
            now=now,
        )

    def group_key(self, label: str) -> str:
        return f"{label}.myshopify.com"

    def poison_body(self, original: dict[str, Any], group_key: str) -> dict[str, Any]:
        return {"note": "deliberately schema-invalid", "admin_graphql_api_id": original.get("admin_graphql_api_id")}


PROVIDER = Shopify()
