"""Step ``ComputeTotals``: the invoice's net, tax and gross totals from its lines (no I/O)."""

from __future__ import annotations

from typing import Any

from handlers.invoices.contract import invoice_totals
from handlers.invoices.steps import run_step


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_step("totals", event, lambda invoice: invoice_totals(invoice.lines).model_dump())
