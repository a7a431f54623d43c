"""Shopify: ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(secret, raw body)); topic, webhook id,
shop domain (the ordering key) and API version in ``X-Shopify-*`` headers; payloads are the
Admin API resources (2025-10 shapes, the fields hookstack relies on)."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

from handlers.providers.base import (
    MAX_DELIVERY_ID_LENGTH,
    MAX_ORDERING_KEY_LENGTH,
    MAX_TOPIC_LENGTH,
    Delivery,
    Money,
    Provider,
    ProviderModel,
    SignatureError,
    header_bytes,
    hmac_sha256,
    optional_header,
    required_header,
)
from handlers.stores.projections import Projection

NAME = "shopify"


def verify(secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> None:
    signature = headers.get("x-shopify-hmac-sha256")
    if not signature:
        raise SignatureError("missing X-Shopify-Hmac-Sha256 header")
    expected = base64.b64encode(hmac_sha256(secret, body))
    if not hmac.compare_digest(expected, header_bytes(signature)):
        raise SignatureError("signature mismatch")


def describe(headers: Mapping[str, str], document: Mapping[str, Any]) -> Delivery:
    return Delivery(
        NAME,
        topic=required_header(headers, "x-shopify-topic", "X-Shopify-Topic", MAX_TOPIC_LENGTH),
        delivery_id=required_header(headers, "x-shopify-webhook-id", "X-Shopify-Webhook-Id", MAX_DELIVERY_ID_LENGTH),
        ordering_key=required_header(
            headers, "x-shopify-shop-domain", "X-Shopify-Shop-Domain", MAX_ORDERING_KEY_LENGTH
        ),
        api_version=optional_header(headers, "x-shopify-api-version"),
    )


# --- topic models --------------------------------------------------------------------------------


class LineItem(ProviderModel):
    id: int
    title: str
    quantity: int = Field(ge=0)
    price: Money
    product_id: int | None = None
    variant_id: int | None = None
    sku: str | None = None


class Customer(ProviderModel):
    id: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class Address(ProviderModel):
    address1: str | None = None
    city: str | None = None
    zip: str | None = None
    country_code: str | None = None


class Order(ProviderModel):
    """orders/create, orders/updated, orders/paid."""

    id: int
    name: str
    created_at: datetime
    updated_at: datetime | None = None
    currency: str = Field(min_length=3, max_length=3)
    total_price: Money
    subtotal_price: Money | None = None
    total_tax: Money | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    email: str | None = None
    line_items: list[LineItem]
    customer: Customer | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None

    def projection(self) -> Projection:
        return Projection(
            "order",
            str(self.id),
            {
                "name": self.name,
                "currency": self.currency,
                "total_price": str(self.total_price),
                "financial_status": self.financial_status,
                "fulfillment_status": self.fulfillment_status,
                "line_items": len(self.line_items),
                "customer_id": self.customer.id if self.customer else None,
                "updated_at": (self.updated_at or self.created_at).isoformat(),
            },
        )


class Variant(ProviderModel):
    id: int
    title: str
    price: Money
    sku: str | None = None
    inventory_quantity: int | None = None


class Product(ProviderModel):
    """products/create, products/update."""

    id: int
    title: str
    handle: str | None = None
    status: str | None = None
    vendor: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    variants: list[Variant]

    def projection(self) -> Projection:
        return Projection(
            "product",
            str(self.id),
            {
                "title": self.title,
                "handle": self.handle,
                "status": self.status,
                "variants": len(self.variants),
                "prices": sorted({str(variant.price) for variant in self.variants}),
                "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            },
        )


class CustomerRecord(ProviderModel):
    """customers/create."""

    id: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    state: str | None = None

    def projection(self) -> Projection:
        return Projection(
            "customer",
            str(self.id),
            {
                "email": self.email,
                "first_name": self.first_name,
                "last_name": self.last_name,
                "state": self.state,
                "created_at": self.created_at.isoformat(),
            },
        )


class Shop(ProviderModel):
    """app/uninstalled: the shop resource."""

    id: int
    name: str
    domain: str
    myshopify_domain: str
    email: str | None = None
    plan_name: str | None = None

    def projection(self) -> Projection:
        return Projection(
            "shop",
            str(self.id),
            {
                "name": self.name,
                "domain": self.domain,
                "myshopify_domain": self.myshopify_domain,
                "installed": False,
            },
        )


TOPIC_MODELS: dict[str, type[ProviderModel]] = {
    "orders/create": Order,
    "orders/updated": Order,
    "orders/paid": Order,
    "products/create": Product,
    "products/update": Product,
    "customers/create": CustomerRecord,
    "app/uninstalled": Shop,
}


PROVIDER = Provider(NAME, verify, describe, TOPIC_MODELS)
