"""Settings that vary per deployment, with defaults.

Read from ``hookstack.toml`` (table ``[hookstack]``) in the working directory when present, then
from ``HOOKSTACK_*`` environment variables for the few that are commonly overridden. Nothing here
needs a code edit to change.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from handlers.providers.registry import PROVIDERS  # what the deployed handlers verify
from stack.clients.token_placement import DEFAULT_IDENTITY_HEADER, TokenPlacement
from stack.errors import HookstackError


class TenantConfig(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    providers: list[str] = list(PROVIDERS)
    source_cidrs: list[str] = []


class HookstackConfig(BaseModel):
    project: str = Field("hookstack", pattern=r"^[a-z][a-z0-9-]{1,20}$")
    stage: str = Field("dev", pattern=r"^[a-z][a-z0-9]{0,15}$")
    region: str = "us-east-1"
    runtime: str = "python3.12"
    architecture: str = "x86_64"
    # API Gateway stage settings.
    throttle_rate_limit: float = 1000.0
    throttle_burst_limit: int = 2000
    # API Gateway takes 10 MB, but a Lambda proxy event (body escaped inside JSON) must stay under
    # Lambda's 6 MB synchronous payload limit: 4 MiB of body leaves room for the escaping.
    max_request_bytes: int = Field(4 * 1024 * 1024, gt=0, le=10 * 1024 * 1024)
    identity_header: str = DEFAULT_IDENTITY_HEADER
    # When set, the token is read from this query-string parameter instead of the header: real
    # providers (Shopify, Stripe, GitHub) deliver to a bare URL and cannot add headers. Instead,
    # not as well: API Gateway needs every identity source present, so it is one or the other.
    identity_query_parameter: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    authorizer_ttl_seconds: int = Field(300, ge=0, le=3600)
    # Queue and worker.
    claim_check_bytes: int = Field(200 * 1024, gt=0, le=1024 * 1024)
    worker_timeout_seconds: int = Field(30, ge=1, le=900)
    worker_batch_size: int = Field(10, ge=1, le=10)  # FIFO event source mappings cap at 10
    worker_max_concurrency: int = Field(2, ge=2, le=1000)
    max_receive_count: int = Field(3, ge=1, le=1000)
    idempotency_ttl_seconds: int = Field(24 * 3600, ge=3600)  # Shopify retries for 4 hours
    payload_retention_days: int = Field(14, ge=1)
    secret_cache_seconds: int = Field(300, ge=0)
    # Chaos drills' run-time fault switch. Every warm producer/worker reads it once per cache
    # period (SSM's default limit is 40 reads/s per account), so production stages may turn it off:
    # the handlers then get no parameter name and make no call at all.
    fault_injection: bool = True
    faults_cache_seconds: int = Field(5, ge=1, le=300)
    log_level: str = "INFO"
    # "baseline" deploys trivial handlers (handlers/baseline.py) on the same template: the
    # reference a benchmark compares the real handlers against. "baseline-status" is the same
    # plus the producer's status write, to tell that write's cost apart from the rest.
    handler_set: Literal["hookstack", "baseline", "baseline-status"] = "hookstack"
    tenants: list[TenantConfig] = [TenantConfig(name="demo")]

    @field_validator("tenants")
    @classmethod
    def _known_providers(cls, tenants: list[TenantConfig]) -> list[TenantConfig]:
        for tenant in tenants:
            unknown = set(tenant.providers) - set(PROVIDERS)
            if unknown:
                raise ValueError(f"tenant {tenant.name}: unknown providers {sorted(unknown)}")
        return tenants

    @property
    def token_placement(self) -> TokenPlacement:
        """Where clients of this stage put the tenant token."""
        return TokenPlacement.for_stage(self.identity_header, self.identity_query_parameter)

    @property
    def stack_name(self) -> str:
        return f"{self.project}-{self.stage}"

    @property
    def bootstrap_stack_name(self) -> str:
        return f"{self.project}-{self.stage}-bootstrap"

    @property
    def parameter_prefix(self) -> str:
        return f"/{self.project}/{self.stage}"

    @property
    def tenant_parameter_path(self) -> str:
        return f"{self.parameter_prefix}/tenants/"

    def tenant_token_parameter(self, tenant: str) -> str:
        return f"{self.tenant_parameter_path}{tenant}/token"

    def provider_secret_parameter(self, provider: str) -> str:
        return f"{self.parameter_prefix}/providers/{provider}/secret"

    @property
    def faults_parameter(self) -> str:
        return f"{self.parameter_prefix}/chaos/faults"

    def resource_name(self, suffix: str) -> str:
        return f"{self.project}-{self.stage}-{suffix}"


def load_config(path: Path | None = None, **overrides: object) -> HookstackConfig:
    """Defaults, then ``hookstack.toml``, then environment, then explicit overrides."""
    values: dict[str, object] = {}
    path = path or Path(os.environ.get("HOOKSTACK_CONFIG", "hookstack.toml"))
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text()).get("hookstack", {}))
        except tomllib.TOMLDecodeError as exc:
            raise HookstackError(f"{path}: not valid TOML: {exc}") from None
    for key in ("stage", "region"):
        env = os.environ.get(f"HOOKSTACK_{key.upper()}")
        if env:
            values[key] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return HookstackConfig(**values)
    except ValueError as exc:
        raise HookstackError(f"invalid configuration: {exc}".replace("\n", " ")) from None
