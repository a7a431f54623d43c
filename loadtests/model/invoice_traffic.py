"""What an accounting system submits to ``POST /invoices`` in the ``invoice-batch`` scenario: valid
invoices (``handlers.invoices.contract.InvoiceSubmission``), paid by card or by bank transfer, a
unique reference each, the amount the lines' gross total (the intake refuses any other).

The payment method is the request's name in the reports (``invoices card``, ``invoices
transfer``): card invoices run one step more (the charge). Pure: no Locust import.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass

from handlers.invoices.contract import InvoiceLine, invoice_totals

REQUEST_PREFIX = "invoices "  # + payment method: the key the reports break the 202 latency down by
# Share of invoices per payment method (of 100): business customers mostly pay by transfer.
PAYMENT_WEIGHTS: dict[str, int] = {"transfer": 60, "card": 40}
CUSTOMERS = 20  # per accounting-system user
LINES = (1, 6)
QUANTITY = (1, 20)
UNIT_AMOUNT = (500, 250_000)  # minor units
TAX_RATES_BP = (0, 700, 1900, 2000)
ITEMS = ("licence", "support", "consulting", "hosting", "training", "travel")


@dataclass(frozen=True)
class PlannedInvoice:
    """One submission: its body, its reference and its payment method."""

    body: bytes
    reference: str
    payment: str


class InvoiceTraffic:
    """One accounting system's month-end run: its own customers, references unique across runs
    (a repeated one is a 409), amounts that match their lines."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.system = uuid.uuid4().hex[:12]  # references stay unique across runs, seeded or not
        self.serial = 0

    def invoice(self, payment: str) -> PlannedInvoice:
        rng = self.rng
        self.serial += 1
        lines = [
            InvoiceLine(
                description=rng.choice(ITEMS),
                quantity=rng.randint(*QUANTITY),
                unit_amount=rng.randint(*UNIT_AMOUNT),
                tax_rate_bp=rng.choice(TAX_RATES_BP),
            )
            for _ in range(rng.randint(*LINES))
        ]
        reference = f"ME-{self.system}-{self.serial:06d}"
        document = {
            "reference": reference,
            "customer": f"cust-{self.system}-{rng.randrange(CUSTOMERS)}",
            "currency": "eur",
            "amount": invoice_totals(lines).gross,
            "payment": payment,
            "lines": [line.model_dump() for line in lines],
        }
        return PlannedInvoice(json.dumps(document, separators=(",", ":")).encode(), reference, payment)
