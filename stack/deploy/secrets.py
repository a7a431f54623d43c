"""The SecureString parameters the handlers read: tenant tokens and provider signing secrets.

CloudFormation cannot create SecureString parameters (on AWS as on the emulators), so they are
created through the SSM API: automatically with random values on emulator targets, explicitly
with ``hookstack secrets init`` on AWS.
"""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import Callable

from stack.clients import providers as client_providers
from stack.config import PROVIDERS, HookstackConfig
from stack.errors import HookstackError


def _new_token() -> str:
    return random_secrets.token_urlsafe(32)


def _generators(config: HookstackConfig) -> dict[str, Callable[[], str]]:
    """Every required parameter → how a fresh value is made: tenant tokens are random strings,
    provider secrets take the form the provider issues them in (Standard Webhooks: ``whsec_…``)."""
    generators = {config.tenant_token_parameter(t.name): _new_token for t in config.tenants}
    for provider in PROVIDERS:
        generators[config.provider_secret_parameter(provider)] = client_providers.get(provider).new_secret
    if "cdc" in config.patterns:
        # The CDC partner's API key: on AWS the partner issues it (put it there before deploying,
        # or replace the random one `hookstack secrets init` makes); the simulator takes any.
        generators[config.partner_api_key_parameter] = _new_token
    return generators


def required_parameters(config: HookstackConfig) -> list[str]:
    return list(_generators(config))


def _tenant_extras(config: HookstackConfig) -> dict[str, str]:
    """StringList parameters beside each token: providers allowed and source CIDRs."""
    extras: dict[str, str] = {}
    for tenant in config.tenants:
        base = f"{config.tenant_parameter_path}{tenant.name}"
        extras[f"{base}/providers"] = ",".join(tenant.providers)
        if tenant.source_cidrs:
            extras[f"{base}/source-ips"] = ",".join(tenant.source_cidrs)
    return extras


def missing_parameters(ssm, names: list[str]) -> list[str]:
    missing: list[str] = []
    for start in range(0, len(names), 10):  # GetParameters takes at most 10 names
        chunk = names[start : start + 10]
        missing += ssm.get_parameters(Names=chunk, WithDecryption=False).get("InvalidParameters", [])
    return sorted(missing)


def ensure_secrets(ssm, config: HookstackConfig, *, create: bool) -> list[str]:
    """Create missing secrets with random values when ``create``; else fail listing them.

    Returns the names created. Existing values are never overwritten (rotating a provider secret
    is a deliberate act, not a side effect of a deploy).
    """
    missing = missing_parameters(ssm, required_parameters(config))
    if missing and not create:
        raise HookstackError(
            f"missing SecureString parameters: {', '.join(missing)} (create them with `hookstack secrets init`)"
        )
    generators = _generators(config)
    for name in missing:
        ssm.put_parameter(Name=name, Value=generators[name](), Type="SecureString", Overwrite=False)
    for name, value in _tenant_extras(config).items():
        ssm.put_parameter(Name=name, Value=value, Type="StringList", Overwrite=True)
    return missing
