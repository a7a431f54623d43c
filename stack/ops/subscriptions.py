"""Tenants' callback subscriptions in SSM, as the callback sender reads them
(``handlers.notifications.subscriptions``): ``{parameter_prefix}/callbacks/{tenant}/url`` (String)
and ``.../secret`` (SecureString, ``whsec_`` + base64 of 24 to 64 bytes).

Pure logic over a boto3 SSM client passed in (the CLI wires ``hookstack subscribe`` and
``hookstack subscriptions``). Nothing here returns a stored secret except the one just generated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.notifications.subscriptions import callback_url_problem, parse_subscriptions
from handlers.providers.base import SecretError
from handlers.providers.standard_webhooks import SECRET_PREFIX, signing_key
from stack.clients.providers.standard_webhooks import new_secret
from stack.config import HookstackConfig
from stack.errors import HookstackError, UsageError

MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64


@dataclass(frozen=True)
class Subscription:
    """A tenant's subscription as it may be shown: never its secret."""

    tenant: str
    url: str

    def as_dict(self) -> dict[str, str]:
        return {"tenant": self.tenant, "url": self.url}


@dataclass(frozen=True)
class Subscribed:
    subscription: Subscription
    generated_secret: str | None  # set only when this call generated it: shown once


def checked_url(url: str) -> str:
    problem = callback_url_problem(url)
    if problem:
        raise UsageError(problem)
    return url


def checked_secret(secret: str) -> str:
    if not secret.startswith(SECRET_PREFIX):
        raise UsageError(f"--secret: a Standard Webhooks secret starts with {SECRET_PREFIX}")
    try:
        key = signing_key(secret)
    except SecretError as exc:
        raise UsageError(f"--secret: {exc}") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise UsageError(f"--secret: the key is {len(key)} bytes; {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} are taken")
    return secret


def checked_tenant(config: HookstackConfig, tenant: str) -> str:
    known = [t.name for t in config.tenants]
    if tenant not in known:
        raise UsageError(f"tenant {tenant!r} is not a tenant of stage {config.stage} (tenants: {', '.join(known)})")
    return tenant


def _url_parameter(config: HookstackConfig, tenant: str) -> str:
    return f"{config.callback_parameter_path}{tenant}/url"


def _secret_parameter(config: HookstackConfig, tenant: str) -> str:
    return f"{config.callback_parameter_path}{tenant}/secret"


def subscribe(ssm: Any, config: HookstackConfig, tenant: str, url: str, secret: str | None = None) -> Subscribed:
    """Create or replace the tenant's subscription; a secret is generated when none is given."""
    checked_tenant(config, tenant)
    checked_url(url)
    generated = new_secret() if secret is None else None
    value = checked_secret(secret) if secret is not None else generated
    assert value is not None
    # The secret first: a URL without its secret is no subscription, so a half-written one never sends.
    ssm.put_parameter(Name=_secret_parameter(config, tenant), Value=value, Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name=_url_parameter(config, tenant), Value=url, Type="String", Overwrite=True)
    return Subscribed(Subscription(tenant, url), generated)


def unsubscribe(ssm: Any, config: HookstackConfig, tenant: str) -> bool:
    """Remove the tenant's subscription; False when it had none."""
    names = [_url_parameter(config, tenant), _secret_parameter(config, tenant)]
    answer = ssm.delete_parameters(Names=names)
    return bool(answer.get("DeletedParameters"))


def list_subscriptions(ssm: Any, config: HookstackConfig) -> list[Subscription]:
    """Every tenant with both a URL and a secret (the secrets are read to tell, never returned)."""
    parameters: dict[str, str] = {}
    path = config.callback_parameter_path
    token: str | None = None
    for _ in range(1000):  # 10 per page: far more tenants than a stage has
        page = ssm.get_parameters_by_path(
            Path=path, Recursive=True, WithDecryption=False, **({"NextToken": token} if token else {})
        )
        for parameter in page.get("Parameters", []):
            parameters[parameter["Name"].removeprefix(path)] = parameter.get("Value", "")
        token = page.get("NextToken")
        if not token:
            break
    else:
        raise HookstackError(f"more than 1000 pages of parameters under {path}")
    return [Subscription(s.tenant, s.url) for s in parse_subscriptions(parameters).values()]
