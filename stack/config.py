"""Settings that vary per deployment, with defaults.

Read from the project's ``hookstack.toml`` (table ``[hookstack]``; an unknown key is an error) when present, then
from ``HOOKSTACK_*`` environment variables for the few that are commonly overridden. Nothing here
needs a code edit to change.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from handlers.providers.registry import PROVIDERS  # what the deployed handlers verify
from stack.clients.token_placement import DEFAULT_IDENTITY_HEADER, TokenPlacement
from stack.definition.models import SCHEDULE_EXPRESSION
from stack.errors import HookstackError
from stack.home import config_file

# The patterns a stage can select (stack/patterns/: one module each, same order). "all" selects every one.
PATTERN_NAMES = ("webhooks", "jobs", "notifications", "cdc", "orchestration")
ALL_PATTERNS = "all"


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
    # SQS FIFO high-throughput mode on the queues (DeduplicationScope messageGroup,
    # FifoThroughputLimit perMessageGroupId): throughput scales with the number of message groups
    # instead of 300 sends/s per queue. The producer's dedup id is unique per tenant, so per-group
    # scope deduplicates exactly what the queue-wide scope did (docs/architecture.md).
    fifo_high_throughput: bool = True
    payload_retention_days: int = Field(14, ge=1)
    # Jobs pattern: how long a consumer machine holds a job before SQS redelivers it, unless the
    # consumer's heartbeat extends it (SQS allows up to 12 h).
    jobs_visibility_timeout_seconds: int = Field(300, ge=30, le=12 * 3600)
    job_attachment_retention_days: int = Field(14, ge=1)
    # Notifications pattern: a signed callback is tried this many times (the callback queue's
    # maxReceiveCount) before it waits in the callback DLQ for `hookstack callbacks replay`; the
    # wait before retry n is this base times 1, 6, 24, 120, 360, 720 (5 s … 1 h by default).
    callback_max_attempts: int = Field(8, ge=1, le=1000)
    callback_backoff_seconds: int = Field(5, ge=1, le=300)
    # CDC pattern: the third party's base URL (the partner simulator's on a local stage), and the
    # trickle's pace: each run sends at most this many items, at most this many per second (keep
    # it within what the partner allows). Each schedule (name → EventBridge expression, UTC)
    # starts a run; runs never overlap (the trickle's reserved concurrency is 1).
    partner_url: str | None = Field(None, pattern=r"^https?://\S+$")
    cdc_trickle_max_messages: int = Field(300, ge=1, le=10000)
    cdc_trickle_rate_per_s: float = Field(5.0, gt=0, le=1000)
    cdc_trickle_schedules: dict[str, str] = {
        "steady": "rate(1 minute)",
        "office-hours": "cron(0/5 8-17 ? * MON-FRI *)",
        "nightly": "cron(30 2 * * ? *)",
    }
    # Orchestration pattern (its steps call the accounting and payment APIs at partner_url): how
    # long a step waits for an answer before it counts as unavailable (and is retried).
    # ``orchestration_sabotage`` is for drills only: "unkeyed-booking" deploys a booking step
    # with a fresh Idempotency-Key per attempt, which the accounting-outage drill must FAIL.
    # ``invoice_step_concurrency`` is each step function's reserved concurrency: at most that many
    # calls of a step at once, whatever the number of executions (a month-end burst reaches the
    # accounting and payment APIs at that width; the steps retry their throttles with backoff).
    invoice_partner_timeout_ms: int = Field(3000, ge=100, le=60_000)
    invoice_step_concurrency: int = Field(4, ge=1, le=1000)
    orchestration_sabotage: Literal["unkeyed-booking"] | None = None
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
    patterns: list[str] = ["webhooks"]

    @field_validator("patterns")
    @classmethod
    def _known_patterns(cls, patterns: list[str]) -> list[str]:
        if ALL_PATTERNS in patterns:
            return list(PATTERN_NAMES)
        unknown = [name for name in patterns if name not in PATTERN_NAMES]
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise ValueError(f"unknown pattern {names} (known: {', '.join(PATTERN_NAMES)}, all)")
        if not patterns:
            raise ValueError(f"select at least one pattern ({', '.join(PATTERN_NAMES)}, all)")
        return [name for name in PATTERN_NAMES if name in patterns]

    @field_validator("cdc_trickle_schedules")
    @classmethod
    def _schedule_expressions(cls, schedules: dict[str, str]) -> dict[str, str]:
        for name, expression in schedules.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", name):
                raise ValueError(f"schedule name {name!r}: 1 to 20 of a-z, 0-9, -")
            if not re.fullmatch(SCHEDULE_EXPRESSION, expression):
                raise ValueError(f"schedule {name}: {expression!r} is not rate(N unit) or cron(6 fields)")
        return schedules

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
    def callback_parameter_path(self) -> str:
        """Tenants' callback subscriptions: ``{path}{tenant}/url`` and ``{path}{tenant}/secret``."""
        return f"{self.parameter_prefix}/callbacks/"

    @property
    def partner_api_key_parameter(self) -> str:
        """The CDC trickle's API key for the third party (a SecureString)."""
        return f"{self.parameter_prefix}/partner/api-key"

    @property
    def faults_parameter(self) -> str:
        return f"{self.parameter_prefix}/chaos/faults"

    def resource_name(self, suffix: str) -> str:
        return f"{self.project}-{self.stage}-{suffix}"


def _unknown_key(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key.rpartition(".")[2], sorted(known), n=1)
    return f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key)


def _unknown_keys(values: dict[str, object], source: Path) -> None:
    """A misspelt key would otherwise be ignored in silence and its default used."""
    top_keys, tenant_keys = set(HookstackConfig.model_fields), set(TenantConfig.model_fields)
    unknown = [_unknown_key(key, top_keys) for key in values if key not in top_keys]
    tenants = values.get("tenants")
    for index, tenant in enumerate(tenants if isinstance(tenants, list) else []):
        if isinstance(tenant, dict):
            where = f"tenants[{index}]"
            unknown += [_unknown_key(f"{where}.{key}", tenant_keys) for key in tenant if key not in tenant_keys]
    if unknown:
        raise HookstackError(
            f"{source}: unknown key {', '.join(unknown)} in [hookstack] (every key: stack/config.py, HookstackConfig)"
        )


def _read_file(path: Path) -> dict[str, object]:
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise HookstackError(f"{path}: not valid TOML: {exc}") from None
    other_tables = [key for key in document if key != "hookstack"]
    if other_tables:
        raise HookstackError(f"{path}: unknown table(s) {', '.join(other_tables)}: settings go in [hookstack]")
    values = document.get("hookstack", {})
    _unknown_keys(values, path)
    return dict(values)


def _invalid_value(exc: ValidationError, source: str) -> HookstackError:
    """One line naming each bad key and the value given, instead of pydantic's dump."""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error.get("loc", ())) or "value"
        given = f" = {error['input']!r}" if "input" in error and not isinstance(error["input"], dict) else ""
        problems.append(f"{key}{given}: {error.get('msg', 'invalid value')}")
    return HookstackError(f"invalid configuration ({source}): " + "; ".join(problems))


def load_config(path: Path | None = None, **overrides: object) -> HookstackConfig:
    """Defaults, then ``hookstack.toml`` (the project's: see ``stack.home``), then environment,
    then explicit overrides."""
    values: dict[str, object] = {}
    path = path or config_file()
    if path.is_file():
        values.update(_read_file(path))
    for key in ("stage", "region"):
        env = os.environ.get(f"HOOKSTACK_{key.upper()}")
        if env:
            values[key] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return HookstackConfig(**values)
    except ValidationError as exc:
        raise _invalid_value(exc, str(path) if path.is_file() else "settings") from None
