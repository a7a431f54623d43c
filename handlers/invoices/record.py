"""Step ``SaveInvoice`` (beside ``BookInvoice`` in the Parallel state): the totals on the invoice
item, and its status RUNNING."""

from __future__ import annotations

import functools
from typing import Any

from handlers.invoices.contract import InvoiceMessage, InvoiceStatus, Totals
from handlers.invoices.settings import InvoicesTableSettings
from handlers.invoices.steps import run_step
from handlers.invoices.store import InvoiceStore
from handlers.platform.aws_clients import client


def save(store: InvoiceStore, invoice: InvoiceMessage, totals: Totals) -> dict[str, Any]:
    store.record_step(
        invoice.invoice_id, invoice.round, "saved", status=InvoiceStatus.RUNNING, sets={"totals": totals.model_dump()}
    )
    return {"saved": True}


@functools.cache
def _store() -> InvoiceStore:
    return InvoiceStore(client("dynamodb"), InvoicesTableSettings.from_env().invoices_table)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    totals = Totals.model_validate(event["totals"])
    return run_step("save", event, lambda invoice: save(_store(), invoice, totals))
