"""Step ``BookInvoice``: the invoice booked at the accounting API, Idempotency-Key = the invoice
id, with a body derived from the invoice alone — so a retried step (or a replay) presents the
same key and the same body and is answered the first booking, never booking twice.

``unkeyed_handler`` is the drills' broken variant (``orchestration_sabotage = "unkeyed-booking"``):
a fresh key per attempt, so a retry after a booking whose answer was lost books again. The
``accounting-outage`` drill must FAIL on a stage that deploys it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from handlers.invoices.contract import InvoiceMessage, Totals, booking_key
from handlers.invoices.partner_api import PartnerApi
from handlers.invoices.settings import PartnerStepSettings
from handlers.invoices.steps import run_step
from handlers.invoices.store import InvoiceStore
from handlers.platform.aws_clients import client


def booking_document(invoice: InvoiceMessage, totals: Totals) -> dict[str, Any]:
    """What the accounting API books: the same bytes for the same invoice, every time."""
    return {
        "invoice_id": invoice.invoice_id,
        "tenant": invoice.tenant,
        "reference": invoice.reference,
        "customer": invoice.customer,
        "currency": invoice.currency,
        "totals": totals.model_dump(),
        "lines": [line.model_dump() for line in invoice.lines],
    }


def book(
    api: PartnerApi, store: InvoiceStore, invoice: InvoiceMessage, totals: Totals, key: Callable[[str], str]
) -> dict[str, Any]:
    answer = api.book(key(invoice.invoice_id), booking_document(invoice, totals))
    booking_id = str(answer.document["booking_id"])
    detail = f"booking {booking_id}" + (" (answered from the idempotency store)" if answer.replayed else "")
    store.record_step(invoice.invoice_id, invoice.round, "booked", sets={"booking_id": booking_id}, detail=detail)
    return {"booking_id": booking_id}


@functools.cache
def _dependencies() -> tuple[PartnerApi, InvoiceStore]:
    settings = PartnerStepSettings.from_env()
    api = PartnerApi(settings.partner_url, settings.partner_timeout_ms / 1000)
    return api, InvoiceStore(client("dynamodb"), settings.invoices_table)


def _handle(event: dict[str, Any], key: Callable[[str], str]) -> dict[str, Any]:
    api, store = _dependencies()
    totals = Totals.model_validate(event["totals"])
    return run_step("booking", event, lambda invoice: book(api, store, invoice, totals, key))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handle(event, booking_key)


def unkeyed_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handle(event, lambda invoice_id: f"{invoice_id}:{uuid.uuid4().hex}")
