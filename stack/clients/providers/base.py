"""What every client-side provider module builds on: the ``Delivery`` it returns, the
``ClientProvider`` interface it implements, and the helpers for realistic, deterministic bodies.

The client side deliberately imports nothing from ``handlers``: a bug shared by both sides must not
be able to make a broken signature or body look valid.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets as random_secrets
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

JSON_CONTENT_TYPE = "application/json"
PADDING_FIELD = "x_hookstack_padding"


def secret_env_var(provider: str) -> str:
    """``HOOKSTACK_<NAME>_SECRET``, ``-`` → ``_``: where a provider's signing secret is read from
    the environment (``hookstack load`` without a stack, the Locust processes)."""
    return f"HOOKSTACK_{provider.upper().replace('-', '_')}_SECRET"


@dataclass(frozen=True)
class Delivery:
    """One HTTP delivery: POST ``/webhooks/{provider}`` with ``headers`` and the raw ``body``.

    ``group_key`` is the provider-side ordering key (shop domain, Stripe account, repository, …);
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


class ClientProvider(ABC):
    """A provider as a sender: its topics, how its ordering key is named, realistic signed
    deliveries. One subclass per module, one instance (``PROVIDER``) in the registry."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]
    """The topics its sample bodies model (what the worker has DTOs for)."""
    default_topic: ClassVar[str]
    group_key_name: ClassVar[str]
    """What its ordering key is, in the provider's words: shop, account, repo, …"""
    sample_group_keys: ClassVar[tuple[str, ...]]
    """Realistic ordering keys for simulated traffic (load tests pick among them)."""
    large_bodies: ClassVar[bool] = False
    """Whether real deliveries reach the queue's size limit (big orders, catalogues): the load
    tests then pad some bodies up to it."""
    drift_fields: ClassVar[tuple[str, ...]] = ()
    """Dotted paths of body fields the provider documents as always present: generic schema-drift
    drills rename, remove and retype them (the worker must dead-letter naming the field)."""

    @abstractmethod
    def body(
        self,
        topic: str,
        *,
        rng: random.Random | None = None,
        group_key: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """A realistic payload for ``topic`` (a minimal one for topics not modelled)."""

    @abstractmethod
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
        """A signed delivery. ``group_key`` None: a default one; ``delivery_id`` None: a new one
        (for providers whose id is in the body, a given ``body`` carries it)."""

    @abstractmethod
    def group_key(self, label: str) -> str:
        """A valid ordering key of this provider made from ``label`` (letters, digits, ``-``)."""

    @abstractmethod
    def poison_body(self, original: dict[str, Any], group_key: str) -> dict[str, Any]:
        """A body the stack accepts (its delivery fields intact) but no model of the worker does."""

    def group_keys(self, count: int | None = None) -> tuple[str, ...]:
        """``count`` distinct ordering keys for simulated traffic (the message groups it spreads
        over): the samples first, then keys made with :meth:`group_key`; None: the samples. A
        provider with a single ordered stream per tenant gives its one key whatever ``count``."""
        if count is None:
            return self.sample_group_keys
        if count < 1:
            raise ValueError(f"the number of {self.group_key_name}s must be at least 1, got {count}")
        keys = dict.fromkeys(self.sample_group_keys[:count])
        for index in range(len(keys) + 1, count + 1):
            keys.setdefault(self.group_key(f"{self.group_key_name}-{index:04d}"))
        return tuple(keys)

    def new_secret(self) -> str:
        """A fresh signing secret in the form the provider issues them."""
        return random_secrets.token_urlsafe(32)

    @property
    def secret_env_var(self) -> str:
        return secret_env_var(self.name)


# --- body building helpers -----------------------------------------------------------------------

FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Radia", "Ken", "Frances", "Tim")
LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Perlman", "Thompson", "Allen")
CITIES = (
    ("Ottawa", "ON", "CA", "K1P 1J1"),
    ("Berlin", "BE", "DE", "10115"),
    ("Austin", "TX", "US", "73301"),
    ("Lyon", "ARA", "FR", "69001"),
    ("Osaka", "27", "JP", "530-0001"),
)


def rng_or_new(rng: random.Random | None) -> random.Random:
    return rng if rng is not None else random.Random()


def now_or_utc(now: dt.datetime | None) -> dt.datetime:
    value = now or dt.datetime.now(dt.UTC)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def person(rng: random.Random) -> tuple[str, str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    return first, last, f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.com"


def address(rng: random.Random, first: str, last: str) -> dict[str, Any]:
    city, province, country, zip_code = rng.choice(CITIES)
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


def extra(rng: random.Random) -> dict[str, Any]:
    """Fields no DTO knows about, as providers add them between API versions."""
    return {
        "x_unknown_flag": rng.choice([True, False]),
        "x_unknown_nested": {"level": rng.randrange(5), "tags": ["alpha", "beta"]},
        "x_unknown_note": f"note-{rng.randrange(10**6)}",
    }


def serialize(body: dict[str, Any], size_bytes: int | None, rng: random.Random) -> bytes:
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


def build_body(
    body: bytes | dict[str, Any] | None,
    make: Callable[[], dict[str, Any]],
    extra_fields: bool,
    size_bytes: int | None,
    rng: random.Random,
) -> bytes:
    """The raw body: ``body`` as given (bytes), or serialized (a dict, else ``make()``), with
    unknown fields and padding when asked."""
    if isinstance(body, bytes):
        if extra_fields or size_bytes is not None:
            raise ValueError("extra_fields/size_bytes apply to generated or dict bodies, not raw bytes")
        return body
    document = dict(body) if body is not None else make()
    if extra_fields:
        document.update(extra(rng))
    return serialize(document, size_bytes, rng)


def json_field(raw: bytes, name: str) -> str | None:
    try:
        value = json.loads(raw).get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
