"""Step ``ChargePayment`` (card invoices, after the Choice): the gross total charged at the
payment API, one charge per round (``contract.charge_key``): a retried step is answered the
charge it made."""

from __future__ import annotations

import functools
from typing import Any

from handlers.invoices.contract import InvoiceMessage, Totals, charge_key
from handlers.invoices.partner_api import PartnerApi
from handlers.invoices.settings import PartnerStepSettings
from handlers.invoices.steps import run_step
from handlers.invoices.store import InvoiceStore
from handlers.platform.aws_clients import client


def charge(api: PartnerApi, store: InvoiceStore, invoice: InvoiceMessage, totals: Totals) -> dict[str, Any]:
    answer = api.charge(
        charge_key(invoice.invoice_id, invoice.round), totals.gross, invoice.currency, invoice.reference
    )
    charge_id = str(answer.document["charge_id"])
    store.record_step(invoice.invoice_id, invoice.round, "charged", sets={"charge_id": charge_id}, detail=charge_id)
    return {"charge_id": charge_id}


@functools.cache
def _dependencies() -> tuple[PartnerApi, InvoiceStore]:
    settings = PartnerStepSettings.from_env()
    api = PartnerApi(settings.partner_url, settings.partner_timeout_ms / 1000)
    return api, InvoiceStore(client("dynamodb"), settings.invoices_table)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    api, store = _dependencies()
    totals = Totals.model_validate(event["totals"])
    return run_step("payment", event, lambda invoice: charge(api, store, invoice, totals))
