"""The base of Locust users that submit invoices (``POST /invoices``) instead of webhooks.

Paced and recorded by the same harness as the webhook users: the open-model schedule, latency
from the intended start, the 202's ``id`` (the invoice id) kept for the follow-up. A request's
name in the reports is ``invoices <payment method>``. Every submission is a valid invoice with
its own reference: any 4xx is an error.
"""

from __future__ import annotations

import time

from locust import FastHttpUser

from loadtests.locust.harness import HARNESS, paced
from loadtests.model.invoice_traffic import REQUEST_PREFIX, InvoiceTraffic
from loadtests.report.measurements import is_ack

INVOICES_PATH = "/invoices"


class InvoiceSubmitter(FastHttpUser):
    """Pace on the schedule, submit one invoice paid by a method, let the harness record the answer."""

    abstract = True
    network_timeout = 30.0  # API Gateway's integration timeout is 29 s
    connection_timeout = 5.0
    wait_time = paced

    def on_start(self) -> None:
        self.invoices = InvoiceTraffic(HARNESS.user_rng())
        self.token_placement = HARNESS.token_placement()
        self.last_start: float | None = None

    def submit(self, payment: str) -> None:
        invoice = self.invoices.invoice(payment)
        attempt = HARNESS.pace()
        token = HARNESS.token()
        headers = {"Content-Type": "application/json", **self.token_placement.headers(token)}
        attempt.sent = self.last_start = time.perf_counter()
        HARNESS.measurements.request_started(attempt)
        with self.client.post(
            self.token_placement.path(INVOICES_PATH, token),
            data=invoice.body,  # type: ignore[arg-type]  # Locust documents bytes as a body; its annotation omits them
            headers=headers,
            catch_response=True,
            name=REQUEST_PREFIX + invoice.payment,
            context={"hookstack_attempt": attempt},
        ) as response:
            if is_ack(response.status_code):
                response.success()
            elif response.status_code:
                response.failure(f"HTTP {response.status_code}")
