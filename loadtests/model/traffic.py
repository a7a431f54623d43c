"""What the simulated providers send: topic mixes, body sizes, shops, retries.

Pure functions of a ``random.Random``, so a seeded run sends the same kinds of deliveries and
the mix can be tested without Locust.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from stack.clients import providers as client_providers
from stack.clients.providers import Delivery

# Real Shopify topics the worker has no DTO for: the stack must accept-and-dead-letter or refuse
# them cleanly (4xx, see measurements.ACCEPTABLE_REFUSALS), never fail with a 5xx.
UNKNOWN_SHOPIFY_TOPICS: tuple[str, ...] = (
    "inventory_levels/update",
    "fulfillments/create",
    "checkouts/update",
    "refunds/create",
    "carts/update",
)

# Share of deliveries carrying fields no DTO knows (providers add fields between API versions).
EXTRA_FIELDS_SHARE = 0.1
# A retained delivery this big is not kept for retries: a retry storm should not pin megabytes.
RETRY_MEMORY_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class SizeBand:
    share: float
    low: int | None  # None: the body's natural size
    high: int | None


class BodySizes:
    """Mostly natural-sized bodies, then a long tail up to just under the queue's limit.

    The largest band sits at 85-97 % of ``max_body_bytes`` (the queue's MaximumMessageSize by
    default), i.e. right at the claim-check boundary a real big order or product can reach.
    """

    def __init__(self, max_body_bytes: int):
        if max_body_bytes < 16 * 1024:
            raise ValueError(f"max_body_bytes must be at least 16 KiB, got {max_body_bytes}")
        self.max_body_bytes = max_body_bytes
        self.bands = (
            SizeBand(0.80, None, None),
            SizeBand(0.12, 4 * 1024, min(64 * 1024, max_body_bytes // 4)),
            SizeBand(0.06, min(64 * 1024, max_body_bytes // 4), int(max_body_bytes * 0.85)),
            SizeBand(0.02, int(max_body_bytes * 0.85), int(max_body_bytes * 0.97)),
        )

    def pick(self, rng: random.Random) -> int | None:
        roll = rng.random()
        for band in self.bands:
            if roll < band.share:
                if band.low is None or band.high is None:
                    return None
                # log-uniform: as many 8 KiB bodies as 32 KiB ones, as in real catalogues
                return int(band.low * (band.high / band.low) ** rng.random())
            roll -= band.share
        return None


class ProviderTraffic:
    """Builds one provider account's deliveries (signed with ``secret``) with the mix above: over
    the provider's sample ordering keys (shops, accounts, repositories, …), a share with unknown
    fields, and for providers whose bodies get big the long tail of sizes."""

    def __init__(self, secret: str, rng: random.Random, sizes: BodySizes, groups: int | None = None):
        self.secret = secret
        self.rng = rng
        self.sizes = sizes
        self.groups = groups
        self._group_keys: dict[str, tuple[str, ...]] = {}

    def _extra(self) -> bool:
        return self.rng.random() < EXTRA_FIELDS_SHARE

    def delivery(self, provider: str, topic: str) -> Delivery:
        sender = client_providers.get(provider)
        size = self.sizes.pick(self.rng) if sender.large_bodies else None
        keys = self._group_keys.get(provider)
        if keys is None:
            keys = self._group_keys[provider] = sender.group_keys(self.groups)
        group_key = self.rng.choice(keys)
        try:
            return sender.delivery(
                topic, self.secret, group_key=group_key, rng=self.rng, extra_fields=self._extra(), size_bytes=size
            )
        except ValueError:  # the padded size was below this body's natural size
            return sender.delivery(topic, self.secret, group_key=group_key, rng=self.rng)


class RetryMemory:
    """Recently sent deliveries a provider may send again, unchanged (same webhook id and body)."""

    def __init__(self, capacity: int = 2000):
        self._recent: deque[Delivery] = deque(maxlen=capacity)

    def remember(self, delivery: Delivery) -> None:
        if len(delivery.body) <= RETRY_MEMORY_MAX_BYTES:
            self._recent.append(delivery)

    def __len__(self) -> int:
        return len(self._recent)

    def maybe_retry(self, fresh: Delivery, share: float, rng: random.Random) -> tuple[Delivery, bool]:
        """With probability ``share`` an earlier delivery of the same provider replaces ``fresh``."""
        if share <= 0 or not self._recent or rng.random() >= share:
            return fresh, False
        for _ in range(8):  # a few tries to find the same provider in a mixed memory
            candidate = self._recent[rng.randrange(len(self._recent))]
            if candidate.provider == fresh.provider:
                return candidate, True
        return fresh, False
