"""The providers hookstack verifies: name → provider object (``handlers/providers/<name>.py``,
``-`` in a name is ``_`` in its module).

A provider module is imported on first use, so the authorizer (which only needs the names) does
not pay for the providers' pydantic models in its cold start. Adding a provider: its module, and
its name here.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handlers.providers.base import Provider, ProviderModel

PROVIDERS: tuple[str, ...] = ("shopify", "stripe", "github", "standard-webhooks")


def module_name(provider: str) -> str:
    return f"{__package__}.{provider.replace('-', '_')}"


class Registry(Mapping[str, "Provider"]):
    """Read-only mapping over ``PROVIDERS``; ``in``, ``len`` and iteration import nothing."""

    def __init__(self, names: tuple[str, ...]):
        self._names = names
        self._loaded: dict[str, Provider] = {}

    def __getitem__(self, name: str) -> Provider:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._loaded:
            provider = importlib.import_module(module_name(name)).PROVIDER
            if provider.name != name:
                raise RuntimeError(f"{module_name(name)} declares provider {provider.name!r}, not {name!r}")
            self._loaded[name] = provider
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


REGISTRY = Registry(PROVIDERS)


def model_for(provider: str, topic: str) -> type[ProviderModel] | None:
    """The DTO for a topic, or None for a topic hookstack does not model (stored generically)."""
    return REGISTRY[provider].model_for(topic) if provider in REGISTRY else None


def topic_models() -> dict[str, Mapping[str, type[ProviderModel]]]:
    """Provider → its per-topic models, for the providers that have any (one whose payloads share
    one envelope model has a default model instead)."""
    return {name: provider.topic_models for name, provider in REGISTRY.items() if provider.topic_models}


def __getattr__(name: str) -> object:
    # ``MODELS`` (provider → topic → model) on first access only: building it imports every provider.
    if name == "MODELS":
        return topic_models()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
