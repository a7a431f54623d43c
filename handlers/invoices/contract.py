"""The orchestration pattern's contract: what a tenant submits (``POST /invoices``), what the
invoices queue carries to the starter and the starter gives each execution as its input, the
invoice's statuses, and the errors the steps raise — whose class names the state machine's
Retry and Catch match (a Lambda task's error is its exception's class name).

One definition each: the gateway's JSON-schema model (``INVOICE_SUBMISSION_SCHEMA``) and the
intake's DTO (``InvoiceSubmission``) describe the same document; a test holds them to each other.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

INVOICE_ID_PATTERN = re.compile(r"^inv_[0-9a-f]{32}$")
REFERENCE_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
CUSTOMER_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
CURRENCY_PATTERN = r"^[a-z]{3}$"
MAX_LINES = 100
MAX_QUANTITY = 1_000_000
MAX_UNIT_AMOUNT = 1_000_000_000  # minor units
MAX_TAX_RATE_BP = 10_000  # basis points: 100 %
MAX_REASON_CHARS = 1000
# "card": the invoice is charged at the payment API; "transfer": the customer pays later, by bank
# transfer (no charge). The state machine's Choice branches on it.
PaymentMethod = Literal["card", "transfer"]
PAYMENT_METHODS: tuple[str, ...] = ("card", "transfer")

# API Gateway takes JSON Schema draft-04 models.
INVOICE_SUBMISSION_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "InvoiceSubmission",
    "type": "object",
    "required": ["reference", "customer", "currency", "amount", "payment", "lines"],
    "additionalProperties": False,
    "properties": {
        "reference": {"type": "string", "pattern": REFERENCE_PATTERN},
        "customer": {"type": "string", "pattern": CUSTOMER_PATTERN},
        "currency": {"type": "string", "pattern": CURRENCY_PATTERN},
        "amount": {"type": "integer", "minimum": 1},
        "payment": {"type": "string", "enum": list(PAYMENT_METHODS)},
        "lines": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LINES,
            "items": {
                "type": "object",
                "required": ["description", "quantity", "unit_amount"],
                "additionalProperties": False,
                "properties": {
                    "description": {"type": "string", "minLength": 1, "maxLength": 200},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
                    "unit_amount": {"type": "integer", "minimum": 0, "maximum": MAX_UNIT_AMOUNT},
                    "tax_rate_bp": {"type": "integer", "minimum": 0, "maximum": MAX_TAX_RATE_BP},
                },
            },
        },
    },
}


class InvoiceStatus(StrEnum):
    RECEIVED = "RECEIVED"  # recorded and queued
    RUNNING = "RUNNING"  # its execution has begun the steps
    SUCCEEDED = "SUCCEEDED"  # booked, paid (card) and completed
    FAILED = "FAILED"  # compensated and dead-lettered with its reason
    REPLAYED = "REPLAYED"  # re-submitted from the dead letters: a new round starts

    @property
    def final(self) -> bool:
        return self in (InvoiceStatus.SUCCEEDED, InvoiceStatus.FAILED)


def new_invoice_id() -> str:
    return f"inv_{uuid.uuid4().hex}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InvoiceLine(_Strict):
    description: str = Field(min_length=1, max_length=200)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    unit_amount: int = Field(ge=0, le=MAX_UNIT_AMOUNT)
    tax_rate_bp: int = Field(0, ge=0, le=MAX_TAX_RATE_BP)


class InvoiceSubmission(_Strict):
    """POST /invoices, as the tenant sends it; ``amount`` is the gross total in minor units."""

    reference: str = Field(pattern=REFERENCE_PATTERN)
    customer: str = Field(pattern=CUSTOMER_PATTERN)
    currency: str = Field(pattern=CURRENCY_PATTERN)
    amount: int = Field(ge=1)
    payment: PaymentMethod
    lines: list[InvoiceLine] = Field(min_length=1, max_length=MAX_LINES)


class Totals(_Strict):
    """Minor units; the tax of each line rounded half up to a whole minor unit."""

    net: int
    tax: int
    gross: int


def invoice_totals(lines: list[InvoiceLine]) -> Totals:
    net = sum(line.quantity * line.unit_amount for line in lines)
    tax = sum((line.quantity * line.unit_amount * line.tax_rate_bp + 5_000) // 10_000 for line in lines)
    return Totals(net=net, tax=tax, gross=net + tax)


class InvoiceMessage(_Strict):
    """The invoices queue's message body, and each execution's input: ``round`` counts the
    replays (0 for the first run), so a replay starts a new execution and a redelivery does not."""

    invoice_id: str = Field(pattern=INVOICE_ID_PATTERN.pattern)
    tenant: str
    reference: str
    customer: str
    currency: str
    amount: int
    payment: PaymentMethod
    lines: list[InvoiceLine]
    submitted_at_ms: int
    round: int = Field(0, ge=0)


def execution_name(tenant: str, invoice_id: str, round_: int) -> str:
    """One execution per invoice and round: a redelivered message maps to the same name, which
    Step Functions refuses to start twice (at most 80 characters of ``[A-Za-z0-9_-]``)."""
    return f"{tenant}-{invoice_id}-r{round_}"


def booking_key(invoice_id: str) -> str:
    """The accounting API's Idempotency-Key: the invoice id, the same on every retry and replay,
    so an invoice is booked once however often its booking step runs."""
    return invoice_id


def charge_key(invoice_id: str, round_: int) -> str:
    """The payment API's Idempotency-Key: one charge per round (a failed round's charge is
    refunded by its compensation, so a replay charges anew, once)."""
    return f"{invoice_id}:charge:r{round_}"


def refund_key(charge_id: str) -> str:
    return f"refund:{charge_id}"


# --- the errors the steps raise; Retry/Catch match these class names -----------------------------


class StepError(Exception):
    """A step failed; the class name is the error Step Functions sees."""


class AccountingUnavailable(StepError):
    """The accounting API answered 5xx or 429, or not in time: retried with backoff."""


class AccountingRefused(StepError):
    """The accounting API refused the booking (4xx): retrying cannot help."""


class PaymentUnavailable(StepError):
    """The payment API answered 5xx or 429, or not in time: retried with backoff."""


class PaymentRefused(StepError):
    """The payment API refused the charge or refund (4xx): retrying cannot help."""


class InvoiceMissing(StepError):
    """The execution's invoice has no item in the invoices table (a bug, or a deleted item)."""


RETRIED_ERRORS = (AccountingUnavailable.__name__, PaymentUnavailable.__name__)


class StepEntry(_Strict):
    """One line of an invoice's step history."""

    step: str
    round: int
    at_ms: int
    detail: str | None = Field(None, max_length=MAX_REASON_CHARS)
