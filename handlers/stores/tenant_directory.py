"""Tenants and their API tokens, from Parameter Store under TENANT_PARAMETER_PATH:
``{path}{tenant}/token`` (SecureString), optional ``{path}{tenant}/source-ips`` and
``{path}{tenant}/providers`` (StringLists)."""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from handlers.platform.parameter_store import ParameterProvider
from handlers.providers.registry import PROVIDERS

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# An unknown token may belong to a tenant added after the cache was filled: refetch, but at most
# this often, so a flood of bad tokens cannot turn into a flood of Parameter Store calls.
MISS_REFETCH_SECONDS = 10.0


@dataclass(frozen=True)
class Tenant:
    name: str
    token: str
    providers: tuple[str, ...]
    source_networks: tuple[IpNetwork, ...] = ()

    def allows_source(self, source_ip: str | None) -> bool:
        if not self.source_networks:
            return True
        try:
            address = ipaddress.ip_address((source_ip or "").strip())
        except ValueError:
            return False
        return any(address in network for network in self.source_networks)


def _string_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_tenants(parameters: Mapping[str, str]) -> list[Tenant]:
    """``{"acme/token": "...", "acme/providers": "shopify,stripe", ...}`` → tenants with a token.
    A malformed CIDR makes the tenant deny-all rather than open."""
    grouped: dict[str, dict[str, str]] = {}
    for name, value in parameters.items():
        tenant, _, leaf = name.strip("/").rpartition("/")
        if tenant:
            grouped.setdefault(tenant, {})[leaf] = value
    tenants = []
    for name, leaves in sorted(grouped.items()):
        token = (leaves.get("token") or "").strip()
        if not token:
            continue
        providers = tuple(_string_list(leaves["providers"])) if "providers" in leaves else PROVIDERS
        networks: list[IpNetwork] = []
        for cidr in _string_list(leaves.get("source-ips", "")):
            try:
                networks.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                # Unparseable allow-list: 0.0.0.0/32 matches no caller, so the tenant is denied.
                networks = [ipaddress.ip_network("0.0.0.0/32")]
                break
        tenants.append(Tenant(name=name, token=token, providers=providers, source_networks=tuple(networks)))
    return tenants


class TenantDirectory:
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
        self._tenants: list[Tenant] = []
        self._last_forced = float("-inf")

    def _load(self, force: bool = False) -> list[Tenant]:
        raw = self._provider_factory().get_multiple(
            self._path, max_age=self._cache_seconds, decrypt=True, recursive=True, force_fetch=force
        )
        if raw is not self._raw:  # Powertools returns the same cached dict while it is fresh
            self._raw, self._tenants = raw, parse_tenants(raw)
        return self._tenants

    def find(self, token: str) -> Tenant | None:
        tenant = self._match(self._load(), token)
        now = self._clock()
        if tenant is None and now - self._last_forced >= MISS_REFETCH_SECONDS:
            self._last_forced = now
            tenant = self._match(self._load(force=True), token)
        return tenant

    @staticmethod
    def _match(tenants: list[Tenant], token: str) -> Tenant | None:
        # Compare against every tenant, constant-time each, no early exit.
        presented = token.encode("utf-8")
        found = None
        for tenant in tenants:
            if hmac.compare_digest(presented, tenant.token.encode("utf-8")):
                found = tenant
        return found
