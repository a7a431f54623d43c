"""Typed payloads per provider (one module each) and the topic → model lookup."""

from __future__ import annotations

from handlers.providers.models import github, shopify, stripe
from handlers.providers.models.base import ProviderModel

MODELS: dict[str, dict[str, type[ProviderModel]]] = {
    "shopify": shopify.TOPIC_MODELS,
    "stripe": stripe.TOPIC_MODELS,
    "github": github.TOPIC_MODELS,
}


def model_for(provider: str, topic: str) -> type[ProviderModel] | None:
    """The DTO for a topic, or None for a topic hookstack does not model (stored generically)."""
    return MODELS.get(provider, {}).get(topic)


__all__ = ["MODELS", "ProviderModel", "model_for"]
