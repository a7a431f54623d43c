"""The base of Locust users that submit invoices (``POST /invoices``) instead of webhooks.

Paced and recorded by the same harness as the webhook users: the open-model schedule, latency
from the intended start, the 202's ``id`` (the invoice id) kept for the follow-up. A request's
name in the reports is ``invoices <payment method>``. Every submission is a valid invoice with
its own reference: any 4xx is an error.
"""

from __future__ import annotations

from loadtests.locust.harness import HARNESS, SubmittingUser
from loadtests.model.invoice_traffic import REQUEST_PREFIX, InvoiceTraffic

INVOICES_PATH = "/invoices"


class InvoiceSubmitter(SubmittingUser):
    """Pace on the schedule, submit one invoice paid by a method, let the harness record the answer."""

    abstract = True

    def on_start(self) -> None:
        super().on_start()
        self.invoices = InvoiceTraffic(HARNESS.user_rng())

    def submit(self, payment: str) -> None:
        invoice = self.invoices.invoice(payment)
        self.post_submission(INVOICES_PATH, invoice.body, REQUEST_PREFIX + invoice.payment)
