"""Tenants' callback subscriptions, from Parameter Store under CALLBACK_PARAMETER_PATH:
``{path}{tenant}/url`` (String) and ``{path}{tenant}/secret`` (SecureString, ``whsec_…``).
Written by ``hookstack subscribe``; a tenant with either missing has no subscription."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from handlers.platform.parameter_store import ParameterProvider
from handlers.stores.tenant_directory import MISS_REFETCH_SECONDS

LOOPBACK_HOSTS = ("localhost",)


@dataclass(frozen=True)
class CallbackSubscription:
    tenant: str
    url: str
    secret: str = field(repr=False)


def callback_url_problem(url: str) -> str | None:
    """None for a URL callbacks may go to: https, or http to this machine's loopback only (a
    local receiver); else why not."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return f"callback URL {url!r}: an https:// URL with a host is required"
    if parts.username or parts.password:
        return f"callback URL {url!r}: credentials do not belong in the URL"
    if parts.scheme == "http" and not _loopback(host):
        return f"callback URL {url!r}: plain http only to 127.0.0.1 or localhost; use https"
    return None


def _loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_subscriptions(parameters: Mapping[str, str]) -> dict[str, CallbackSubscription]:
    """``{"acme/url": "...", "acme/secret": "whsec_..."}`` → subscriptions of tenants with both."""
    grouped: dict[str, dict[str, str]] = {}
    for name, value in parameters.items():
        tenant, _, leaf = name.strip("/").rpartition("/")
        if tenant:
            grouped.setdefault(tenant, {})[leaf] = value
    subscriptions = {}
    for tenant, leaves in sorted(grouped.items()):
        url, secret = (leaves.get("url") or "").strip(), (leaves.get("secret") or "").strip()
        if url and secret:
            subscriptions[tenant] = CallbackSubscription(tenant, url, secret)
    return subscriptions


class SubscriptionDirectory:
    def __init__(
        self,
        provider_factory: Callable[[], ParameterProvider],
        path: str,
        cache_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._provider_factory = provider_factory
        self._path = path
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._raw: Mapping[str, str] | None = None
        self._subscriptions: dict[str, CallbackSubscription] = {}
        self._last_forced = float("-inf")

    def _load(self, force: bool = False) -> dict[str, CallbackSubscription]:
        raw = self._provider_factory().get_multiple(
            self._path, max_age=self._cache_seconds, decrypt=True, recursive=True, force_fetch=force
        )
        if raw is not self._raw:  # Powertools returns the same cached dict while it is fresh
            self._raw, self._subscriptions = raw, parse_subscriptions(raw)
        return self._subscriptions

    def find(self, tenant: str) -> CallbackSubscription | None:
        """The tenant's subscription. A miss may be a tenant subscribed after the cache was filled:
        refetch, at most every ``MISS_REFETCH_SECONDS``, before calling it none."""
        found = self._load().get(tenant)
        now = self._clock()
        if found is None and now - self._last_forced >= MISS_REFETCH_SECONDS:
            self._last_forced = now
            found = self._load(force=True).get(tenant)
        return found
