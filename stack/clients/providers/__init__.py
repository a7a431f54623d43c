"""Realistic, signed webhook deliveries, one module per provider, and the client-side registry.

Used by ``hookstack send``, the demo burst, the Locust users, the chaos drills and the tests.
Bodies are deterministic for a given ``random.Random`` (and fixed ``now``/``timestamp``), can be
padded to an exact byte size and can carry unknown extra fields, which the stack must tolerate.

This package is the *client* side: it deliberately imports nothing from ``handlers`` so a bug
shared by both sides cannot make a broken signature or body look valid. Adding a provider: its
module here (a ``ClientProvider`` as ``PROVIDER``) and its entry in ``REGISTRY``; see
docs/providers.md.
"""

from __future__ import annotations

import random

from stack.clients.providers import github, shopify, standard_webhooks, stripe
from stack.clients.providers.base import ClientProvider, Delivery, secret_env_var

REGISTRY: dict[str, ClientProvider] = {
    provider.name: provider
    for provider in (shopify.PROVIDER, stripe.PROVIDER, github.PROVIDER, standard_webhooks.PROVIDER)
}
PROVIDERS: tuple[str, ...] = tuple(REGISTRY)

ALL_TOPICS: tuple[tuple[str, str], ...] = tuple((p.name, topic) for p in REGISTRY.values() for topic in p.topics)


class UnknownProvider(ValueError):
    def __init__(self, name: str):
        super().__init__(f"unknown provider {name!r}: choose one of {', '.join(PROVIDERS)}")


def get(name: str) -> ClientProvider:
    """The provider called ``name``; UnknownProvider (a ValueError naming the choices) otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownProvider(name) from None


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
    """One delivery for any provider; ``group_key`` is its ordering key (shop / account / repo …)."""
    return get(provider).delivery(
        topic, secret, rng=rng, group_key=group_key, extra_fields=extra_fields, size_bytes=size_bytes
    )


__all__ = [
    "ALL_TOPICS",
    "PROVIDERS",
    "REGISTRY",
    "ClientProvider",
    "Delivery",
    "UnknownProvider",
    "get",
    "make_delivery",
    "secret_env_var",
]
