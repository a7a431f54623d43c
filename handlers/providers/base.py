"""What every provider module builds on: the ``Provider`` it exports, the errors it raises, the
header and envelope readers, the HMAC helpers, and the DTO base model.

A provider module (``handlers/providers/<name>.py``) exports ``PROVIDER = Provider(...)``: its
signature verification, how a verified delivery names its topic / delivery id / ordering key /
API version, and its topic models. ``handlers.providers.registry`` lists the modules.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

if TYPE_CHECKING:
    from handlers.stores.projections import Projection

MAX_DELIVERY_ID_LENGTH = 256
MAX_TOPIC_LENGTH = 256
MAX_ORDERING_KEY_LENGTH = 512


class SignatureError(Exception):
    """The delivery is not authentic; ``str(error)`` is a short reason safe to return (401)."""


class SecretError(Exception):
    """The configured signing secret cannot be used (a deployment problem: 503, the sender retries)."""


class DeliveryError(Exception):
    """A verified delivery lacks what the producer needs (topic, delivery id): ``str(error)`` is
    the reason returned with the 400."""


# --- DTOs ----------------------------------------------------------------------------------------


class ProviderModel(BaseModel):
    """Unknown fields are tolerated (providers add fields between API versions), required fields
    must be present and well typed.

    Subclasses the worker looks up implement ``projection()``: the entity the event updates, or
    None to store the validated event generically (keyed by its event id)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def projection(self) -> Projection | None:
        return None


def _money_string(value: object) -> object:
    # Shopify sends money as strings ("19.99"); a bool or a nested object is a schema error.
    if isinstance(value, bool):
        raise ValueError("money must be a decimal string")
    return value


# Decimal in Python, its exact string when projected (DynamoDB maps have no floats).
Money = Annotated[Decimal, BeforeValidator(_money_string), PlainSerializer(str, return_type=str)]


# --- what the producer learns about a delivery ---------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What the producer learned about one verified delivery, from its headers and envelope.

    ``ordering_key`` None: the provider names none for this delivery, the tenant orders it."""

    provider: str
    topic: str
    delivery_id: str
    ordering_key: str | None
    api_version: str | None = None


Verifier = Callable[..., None]
"""``verify(secret, body, headers, *, now=None)``: returns, or raises SignatureError / SecretError.
``headers`` are lower-cased; ``now`` is epoch seconds (None: the clock)."""

Describer = Callable[[Mapping[str, str], Mapping[str, Any]], Delivery]
"""``describe(headers, document)`` of a verified delivery; raises DeliveryError."""


@dataclass(frozen=True)
class Provider:
    name: str
    verify: Verifier
    describe: Describer
    topic_models: Mapping[str, type[ProviderModel]] = field(default_factory=dict)
    # The model of every topic without its own (an envelope model for providers whose payloads
    # share one shape); None: such topics are stored generically, only checked to be JSON.
    default_model: type[ProviderModel] | None = None

    def model_for(self, topic: str) -> type[ProviderModel] | None:
        return self.topic_models.get(topic, self.default_model)


# --- reading headers and envelopes ---------------------------------------------------------------


def header_bytes(value: str) -> bytes:
    """A header value for ``hmac.compare_digest``: that refuses non-ASCII str, so compare bytes
    and such a header is a plain mismatch."""
    return value.strip().encode("utf-8", "surrogateescape")


def required_header(headers: Mapping[str, str], name: str, display: str, limit: int) -> str:
    value = (headers.get(name) or "").strip()
    if not value:
        raise DeliveryError(f"missing {display} header")
    if len(value) > limit:
        raise DeliveryError(f"{display} header is too long")
    return value


def optional_header(headers: Mapping[str, str], name: str) -> str | None:
    return (headers.get(name) or "").strip() or None


def envelope_field(document: Mapping[str, Any], name: str, limit: int) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise DeliveryError(f"body has no string field {name!r}")
    if len(value) > limit:
        raise DeliveryError(f"body field {name!r} is too long")
    return value


def non_empty_string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def hmac_sha256(key: str | bytes, message: bytes) -> bytes:
    return hmac.new(key.encode("utf-8") if isinstance(key, str) else key, message, hashlib.sha256).digest()


def any_matches(expected: bytes, candidates: list[str]) -> bool:
    """Constant-time comparison against every candidate, without stopping at the first match."""
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, header_bytes(candidate))
    return matched
