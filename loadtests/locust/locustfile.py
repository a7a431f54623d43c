"""Webhook traffic for a hookstack target, as providers send it.

``hookstack load`` runs this file headless and reports exact latencies; it also works with
Locust's own web UI for interactive use::

    HOOKSTACK_TOKEN=… HOOKSTACK_SHOPIFY_SECRET=… \\
        locust -f loadtests/locust/locustfile.py --host http://127.0.0.1:PORT/_aws/execute-api/ID/dev \\
        --scenario flash-sale --rate 50 --duration 2m ShopifyStore

The load shape comes from ``--scenario`` (see ``loadtests/locust/shapes.py``); requests start on an
open-model schedule (``--mode open``) unless ``--mode closed``. See docs/load-testing.md.
"""

from __future__ import annotations

from locust import task

from loadtests.locust.harness import HARNESS, WebhookUser
from loadtests.locust.invoice_user import InvoiceSubmitter
from loadtests.locust.partner_user import PartnerJobsUser
from loadtests.locust.table_writer import TableSourceUser
from loadtests.model.cdc_traffic import DELETE, INSERT, KIND_WEIGHTS, UPDATE
from loadtests.model.invoice_traffic import PAYMENT_WEIGHTS
from loadtests.model.jobs_traffic import SIZE_CLASS_WEIGHTS
from loadtests.model.traffic import UNKNOWN_SHOPIFY_TOPICS

HARNESS.install()


class ShopifyStore(WebhookUser):
    """Shops on a busy day: order traffic dominates, the catalogue and customers change now and
    then, a few apps uninstall, and a topic nobody subscribed to slips through. Bodies range from a
    few hundred bytes to just under the queue's limit; one in ten carries fields no DTO knows."""

    provider = "shopify"
    weight = 10

    @task(30)
    def order_created(self) -> None:
        self.send("orders/create")

    @task(20)
    def order_paid(self) -> None:
        self.send("orders/paid")

    @task(15)
    def order_updated(self) -> None:
        self.send("orders/updated")

    @task(8)
    def product_updated(self) -> None:
        self.send("products/update")

    @task(3)
    def product_created(self) -> None:
        self.send("products/create")

    @task(6)
    def customer_created(self) -> None:
        self.send("customers/create")

    @task(1)
    def app_uninstalled(self) -> None:
        self.send("app/uninstalled")

    @task(2)
    def topic_the_worker_does_not_know(self) -> None:
        self.send(self.rng.choice(UNKNOWN_SHOPIFY_TOPICS))


class StripeAccount(WebhookUser):
    """Connected Stripe accounts: payments succeed, subscription invoices get paid."""

    provider = "stripe"
    weight = 2

    @task(3)
    def payment_succeeded(self) -> None:
        self.send("payment_intent.succeeded")

    @task(1)
    def invoice_paid(self) -> None:
        self.send("invoice.paid")


class GitHubRepository(WebhookUser):
    """A few repositories receiving pushes."""

    provider = "github"
    weight = 1

    @task
    def push(self) -> None:
        self.send("push")


class StandardWebhooksApp(WebhookUser):
    """A SaaS app sending Standard Webhooks (as Svix does): contacts sign up and change, invoices
    get paid. One ordered stream per tenant."""

    provider = "standard-webhooks"
    weight = 1

    @task(3)
    def contact_created(self) -> None:
        self.send("contact.created")

    @task(2)
    def contact_updated(self) -> None:
        self.send("contact.updated")

    @task(1)
    def invoice_paid(self) -> None:
        self.send("invoice.paid")


class PartnerCompany(PartnerJobsUser):
    """A partner company uploading its customers' data as jobs (the ``partner-jobs`` scenario):
    mostly small files kept inline in the queue message, some large enough for the claim check
    to S3, a few larger than a queue message can be at all."""

    weight = 1

    @task(SIZE_CLASS_WEIGHTS["inline-small"])
    def small_file(self) -> None:
        self.submit("inline-small")

    @task(SIZE_CLASS_WEIGHTS["inline-large"])
    def larger_file_still_inline(self) -> None:
        self.submit("inline-large")

    @task(SIZE_CLASS_WEIGHTS["claim-check"])
    def file_past_the_claim_check(self) -> None:
        self.submit("claim-check")

    @task(SIZE_CLASS_WEIGHTS["over-queue-limit"])
    def file_larger_than_a_queue_message(self) -> None:
        self.submit("over-queue-limit")


class AccountingSystem(InvoiceSubmitter):
    """A tenant's accounting system closing the month (the ``invoice-batch`` scenario): it sends
    every invoice of the month at once, most paid by bank transfer, the rest charged to a card."""

    weight = 1

    @task(PAYMENT_WEIGHTS["transfer"])
    def invoice_paid_by_transfer(self) -> None:
        self.submit("transfer")

    @task(PAYMENT_WEIGHTS["card"])
    def invoice_charged_to_a_card(self) -> None:
        self.submit("card")


class OrderSource(TableSourceUser):
    """A system of record writing orders to the CDC source table (the ``cdc-trickle`` scenario):
    new orders mostly, some changed or deleted afterwards — which must never reach the partner."""

    weight = 1

    @task(KIND_WEIGHTS[INSERT])
    def order_placed(self) -> None:
        self.insert()

    @task(KIND_WEIGHTS[UPDATE])
    def order_changed(self) -> None:
        self.update()

    @task(KIND_WEIGHTS[DELETE])
    def order_deleted(self) -> None:
        self.delete()
