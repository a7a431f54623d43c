"""GET /invoices/{id}: an invoice's status, its step history and what its steps produced, for the
tenant that submitted it (404 for anyone else, with the same body as for no such invoice)."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

from handlers.invoices.contract import INVOICE_ID_PATTERN
from handlers.invoices.settings import InvoicesTableSettings
from handlers.invoices.store import InvoiceStore
from handlers.platform.api_gateway import authorizer_context, json_response, path_parameter
from handlers.platform.aws_clients import client
from handlers.platform.logging_setup import elapsed_ms, function_logger
from handlers.platform.timestamps import iso_from_ms

logger = function_logger("invoice-query")

NOT_FOUND = {"message": "invoice not found"}
DOCUMENT_FIELDS = (
    "reference",
    "customer",
    "currency",
    "amount",
    "payment",
    "status",
    "round",
    "reason",
    "totals",
    "booking_id",
    "charge_id",
    "refund_id",
    "compensation",
    "failed_error",
    "execution_arn",
)


def invoice_document(item: Mapping[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {"id": item["id"], **{name: item.get(name) for name in DOCUMENT_FIELDS}}
    for name in ("submitted_at", "updated_at"):
        document[name] = iso_from_ms(int(item[name])) if item.get(name) else None
    document["steps"] = [
        {**entry, "at": iso_from_ms(int(entry["at_ms"]))} for entry in item.get("steps") or [] if "at_ms" in entry
    ]
    return document


def lookup(store: InvoiceStore, event: Mapping[str, Any], log: dict[str, Any]) -> dict[str, Any]:
    tenant = str(authorizer_context(event).get("tenant") or "")
    if not tenant:
        return json_response(403, {"message": "no tenant in the request context"})
    invoice_id = path_parameter(event, "id") or ""
    if not INVOICE_ID_PATTERN.match(invoice_id):
        return json_response(404, NOT_FOUND)
    log["invoice_id"] = invoice_id
    item = store.get(invoice_id)
    if not item or item.get("tenant") != tenant:
        return json_response(404, NOT_FOUND)
    return json_response(200, invoice_document(item))


@functools.cache
def _store() -> InvoiceStore:
    return InvoiceStore(client("dynamodb"), InvoicesTableSettings.from_env().invoices_table)


def handle(store: InvoiceStore, event: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    log: dict[str, Any] = {"invoice_id": None}
    response = lookup(store, event, log)
    logger.info(
        "invoice-query",
        extra={
            "function": "invoice-query",
            "duration_ms": elapsed_ms(started),
            "status": response["statusCode"],
            **log,
        },
    )
    return response


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_store(), event)
