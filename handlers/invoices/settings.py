"""The orchestration pattern's function settings, read from the environment on first use (the
contract in docs/orchestration.md; the helpers are the ones every function's settings use)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from handlers.contract.settings import integer, required


@dataclass(frozen=True)
class InvoiceIntakeSettings:
    invoices_table: str
    invoices_queue_url: str
    max_body_bytes: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> InvoiceIntakeSettings:
        return cls(
            invoices_table=required(env, "INVOICES_TABLE"),
            invoices_queue_url=required(env, "INVOICES_QUEUE_URL"),
            max_body_bytes=integer(env, "MAX_BODY_BYTES"),
        )


@dataclass(frozen=True)
class InvoicesTableSettings:
    """The query, totals and record steps: the invoices table only."""

    invoices_table: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> InvoicesTableSettings:
        return cls(invoices_table=required(env, "INVOICES_TABLE"))


@dataclass(frozen=True)
class InvoiceStarterSettings:
    invoices_table: str
    state_machine_arn: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> InvoiceStarterSettings:
        return cls(
            invoices_table=required(env, "INVOICES_TABLE"),
            state_machine_arn=required(env, "STATE_MACHINE_ARN"),
        )


@dataclass(frozen=True)
class PartnerStepSettings:
    """The booking, payment and compensation steps: the table, and the third party's base URL
    (the partner simulator locally, the real accounting and payment APIs on AWS)."""

    invoices_table: str
    partner_url: str
    partner_timeout_ms: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> PartnerStepSettings:
        return cls(
            invoices_table=required(env, "INVOICES_TABLE"),
            partner_url=required(env, "PARTNER_URL").rstrip("/"),
            partner_timeout_ms=max(1, integer(env, "PARTNER_TIMEOUT_MS")),
        )


@dataclass(frozen=True)
class CompensationSettings:
    """The partner step's settings, and the invoice dead letters queue (read here, not through
    ``PartnerStepSettings``: each function's settings class reads its own variables)."""

    invoices_table: str
    partner_url: str
    partner_timeout_ms: int
    dead_letters_queue_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CompensationSettings:
        return cls(
            invoices_table=required(env, "INVOICES_TABLE"),
            partner_url=required(env, "PARTNER_URL").rstrip("/"),
            partner_timeout_ms=max(1, integer(env, "PARTNER_TIMEOUT_MS")),
            dead_letters_queue_url=required(env, "INVOICE_DEAD_LETTERS_QUEUE_URL"),
        )


@dataclass(frozen=True)
class CompletionSettings:
    """The completion step: the table, and the topic completions are published to when the stage
    has the notifications pattern (None: nothing is published)."""

    invoices_table: str
    completions_topic_arn: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CompletionSettings:
        return cls(
            invoices_table=required(env, "INVOICES_TABLE"),
            completions_topic_arn=env.get("COMPLETIONS_TOPIC_ARN", "").strip() or None,
        )
