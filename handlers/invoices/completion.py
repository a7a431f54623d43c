"""Step ``CompleteInvoice``: the invoice SUCCEEDED; with the notifications pattern
(COMPLETIONS_TOPIC_ARN set) its ``invoice.completed`` event published to the completions topic,
before the status is written — a failed write retries the step, which publishes the same event
id again (one delivery in effect at the receiver), and a failed publish never leaves an invoice
SUCCEEDED without its notification."""

from __future__ import annotations

import functools
from typing import Any

from handlers.invoices.contract import InvoiceMessage, InvoiceStatus, Totals
from handlers.invoices.settings import CompletionSettings
from handlers.invoices.steps import run_step
from handlers.invoices.store import InvoiceStore, now_ms
from handlers.notifications.contract import Notification, NotificationPublisher, notification_id
from handlers.platform.aws_clients import client
from handlers.platform.timestamps import iso_from_ms

INVOICE_COMPLETED = "invoice.completed"


def completion_event(invoice: InvoiceMessage, totals: Totals, at_ms: int) -> tuple[str, Notification]:
    event_id = notification_id(INVOICE_COMPLETED, f"{invoice.invoice_id}.{InvoiceStatus.SUCCEEDED.value}")
    notification = Notification(
        type=INVOICE_COMPLETED,
        timestamp=iso_from_ms(at_ms),
        data={
            "id": invoice.invoice_id,
            "reference": invoice.reference,
            "customer": invoice.customer,
            "currency": invoice.currency,
            "gross": totals.gross,
            "payment": invoice.payment,
            "status": InvoiceStatus.SUCCEEDED.value,
        },
    )
    return event_id, notification


def complete(
    store: InvoiceStore, completions: NotificationPublisher | None, invoice: InvoiceMessage, totals: Totals
) -> dict[str, Any]:
    at = now_ms()
    published = None
    if completions is not None:
        published, notification = completion_event(invoice, totals, at)
        completions.publish(invoice.tenant, published, notification)
    store.record_step(
        invoice.invoice_id,
        invoice.round,
        "completed",
        status=InvoiceStatus.SUCCEEDED,
        sets={"completed_at": at},
        detail=f"notified {published}" if published else None,
    )
    return {"completed": True, "notification": published}


@functools.cache
def _dependencies() -> tuple[InvoiceStore, NotificationPublisher | None]:
    settings = CompletionSettings.from_env()
    topic = settings.completions_topic_arn
    completions = NotificationPublisher(client("sns"), topic) if topic else None
    return InvoiceStore(client("dynamodb"), settings.invoices_table), completions


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store, completions = _dependencies()
    totals = Totals.model_validate(event["totals"])
    return run_step("completion", event, lambda invoice: complete(store, completions, invoice, totals))
