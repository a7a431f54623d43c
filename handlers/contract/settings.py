"""Each function's settings, read from its environment (the contract in docs/architecture.md).

Read on first use, not at import, so every handler module imports with no AWS environment set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from handlers.errors import ConfigurationError

DEFAULT_SECRET_CACHE_SECONDS = 300
# Status items outlive the longest provider retry window and a DLQ stay (14 days) with margin.
STATUS_RETENTION_SECONDS = 21 * 24 * 3600


def required(env: Mapping[str, str], name: str) -> str:
    """The variable's value, stripped; ConfigurationError when it is unset or blank."""
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def integer(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    """The variable as an integer >= 0 (``default`` when unset, if given); ConfigurationError otherwise."""
    raw = env.get(name, "").strip()
    if not raw:
        if default is None:
            raise ConfigurationError(f"environment variable {name} is not set")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"environment variable {name} must be >= 0, got {value}")
    return value


@dataclass(frozen=True)
class AuthorizerSettings:
    tenant_parameter_path: str
    identity_header: str
    # When set, the token comes from this query-string parameter instead of the header.
    identity_query_parameter: str | None = None
    secret_cache_seconds: int = DEFAULT_SECRET_CACHE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AuthorizerSettings:
        path = required(env, "TENANT_PARAMETER_PATH")
        return cls(
            tenant_parameter_path=path if path.endswith("/") else path + "/",
            identity_header=required(env, "IDENTITY_HEADER"),
            identity_query_parameter=env.get("IDENTITY_QUERY_PARAMETER", "").strip() or None,
            secret_cache_seconds=integer(env, "SECRET_CACHE_SECONDS", DEFAULT_SECRET_CACHE_SECONDS),
        )


@dataclass(frozen=True)
class ProducerSettings:
    events_table: str
    queue_url: str
    payload_bucket: str
    provider_secret_parameters: Mapping[str, str]
    max_body_bytes: int
    claim_check_bytes: int
    secret_cache_seconds: int = DEFAULT_SECRET_CACHE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ProducerSettings:
        raw = required(env, "PROVIDER_SECRET_PARAMETERS")
        try:
            secrets = json.loads(raw)
        except ValueError:
            raise ConfigurationError("PROVIDER_SECRET_PARAMETERS must be a JSON object") from None
        if not isinstance(secrets, dict) or not all(isinstance(v, str) for v in secrets.values()):
            raise ConfigurationError("PROVIDER_SECRET_PARAMETERS must map provider names to parameter names")
        return cls(
            events_table=required(env, "EVENTS_TABLE"),
            queue_url=required(env, "QUEUE_URL"),
            payload_bucket=required(env, "PAYLOAD_BUCKET"),
            provider_secret_parameters=secrets,
            max_body_bytes=integer(env, "MAX_BODY_BYTES"),
            claim_check_bytes=integer(env, "CLAIM_CHECK_BYTES"),
            secret_cache_seconds=integer(env, "SECRET_CACHE_SECONDS", DEFAULT_SECRET_CACHE_SECONDS),
        )


@dataclass(frozen=True)
class WorkerSettings:
    events_table: str
    projections_table: str
    dlq_url: str
    payload_bucket: str
    max_receive_count: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WorkerSettings:
        return cls(
            events_table=required(env, "EVENTS_TABLE"),
            projections_table=required(env, "PROJECTIONS_TABLE"),
            dlq_url=required(env, "DLQ_URL"),
            payload_bucket=required(env, "PAYLOAD_BUCKET"),
            max_receive_count=max(1, integer(env, "MAX_RECEIVE_COUNT")),
        )


@dataclass(frozen=True)
class StatusSettings:
    events_table: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StatusSettings:
        return cls(events_table=required(env, "EVENTS_TABLE"))


@dataclass(frozen=True)
class JobsIntakeSettings:
    jobs_table: str
    jobs_queue_url: str
    attachments_bucket: str
    max_body_bytes: int
    claim_check_bytes: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> JobsIntakeSettings:
        return cls(
            jobs_table=required(env, "JOBS_TABLE"),
            jobs_queue_url=required(env, "JOBS_QUEUE_URL"),
            attachments_bucket=required(env, "ATTACHMENTS_BUCKET"),
            max_body_bytes=integer(env, "MAX_BODY_BYTES"),
            claim_check_bytes=integer(env, "CLAIM_CHECK_BYTES"),
        )


@dataclass(frozen=True)
class JobsTableSettings:
    """The query and results functions: the jobs table only."""

    jobs_table: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> JobsTableSettings:
        return cls(jobs_table=required(env, "JOBS_TABLE"))


@dataclass(frozen=True)
class JobsResultsSettings:
    """The results function: the jobs table, and the topic final statuses are published to when
    the stage has the notifications pattern (None: nothing is published)."""

    jobs_table: str
    completions_topic_arn: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> JobsResultsSettings:
        return cls(
            jobs_table=required(env, "JOBS_TABLE"),
            completions_topic_arn=env.get("COMPLETIONS_TOPIC_ARN", "").strip() or None,
        )


@dataclass(frozen=True)
class CallbackSenderSettings:
    callback_queue_url: str
    callback_parameter_path: str
    backoff_seconds: int
    secret_cache_seconds: int = DEFAULT_SECRET_CACHE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CallbackSenderSettings:
        path = required(env, "CALLBACK_PARAMETER_PATH")
        return cls(
            callback_queue_url=required(env, "CALLBACK_QUEUE_URL"),
            callback_parameter_path=path if path.endswith("/") else path + "/",
            backoff_seconds=max(1, integer(env, "CALLBACK_BACKOFF_SECONDS")),
            secret_cache_seconds=integer(env, "SECRET_CACHE_SECONDS", DEFAULT_SECRET_CACHE_SECONDS),
        )


@dataclass(frozen=True)
class CdcCaptureSettings:
    cdc_queue_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CdcCaptureSettings:
        return cls(cdc_queue_url=required(env, "CDC_QUEUE_URL"))


@dataclass(frozen=True)
class CdcTrickleSettings:
    cdc_queue_url: str
    cdc_dlq_url: str
    partner_url: str
    api_key_parameter: str
    max_messages: int  # per run
    rate_per_s: float  # requests to the partner, at most
    secret_cache_seconds: int = DEFAULT_SECRET_CACHE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CdcTrickleSettings:
        raw_rate = required(env, "TRICKLE_RATE_PER_S")
        try:
            rate = float(raw_rate)
        except ValueError:
            raise ConfigurationError(f"TRICKLE_RATE_PER_S must be a number, got {raw_rate!r}") from None
        if not rate > 0:
            raise ConfigurationError(f"TRICKLE_RATE_PER_S must be > 0, got {rate}")
        return cls(
            cdc_queue_url=required(env, "CDC_QUEUE_URL"),
            cdc_dlq_url=required(env, "CDC_DLQ_URL"),
            partner_url=required(env, "PARTNER_URL").rstrip("/"),
            api_key_parameter=required(env, "PARTNER_API_KEY_PARAMETER"),
            max_messages=max(1, integer(env, "TRICKLE_MAX_MESSAGES")),
            rate_per_s=rate,
            secret_cache_seconds=integer(env, "SECRET_CACHE_SECONDS", DEFAULT_SECRET_CACHE_SECONDS),
        )
