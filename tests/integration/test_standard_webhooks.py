"""Standard Webhooks through the deployed API on the embedded target: a delivery signed as the
reference library signs is acknowledged and processed; a stale one is refused with its reason."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook

from stack.clients.providers.standard_webhooks import standard_webhooks_delivery
from stack.deploy.outputs import provider_secret
from tests.helpers.status_polling import wait_for_status

pytestmark = pytest.mark.integration
PROVIDER = "standard-webhooks"


@pytest.fixture(scope="module")
def secret(embedded_stack) -> str:
    return provider_secret(embedded_stack, PROVIDER)


def test_the_stage_s_secret_is_a_whsec_secret(secret):
    assert secret.startswith("whsec_")
    Webhook(secret)  # a reference implementation can sign with it


def test_delivery_is_acknowledged_then_processed(api, secret):
    delivery = standard_webhooks_delivery("contact.created", secret)
    Webhook(secret).verify(delivery.body, delivery.headers)  # what the reference library accepts
    response = api.post_webhook(PROVIDER, delivery.body, delivery.headers)
    assert response.status == 202, response.body
    ack = response.json()
    status = wait_for_status(api, ack["id"], {"PROCESSED", "DEAD_LETTERED"})
    assert status["status"] == "PROCESSED", status
    assert status["provider"] == PROVIDER and status["topic"] == "contact.created"


def test_a_retry_is_the_same_event(api, secret):
    delivery = standard_webhooks_delivery("invoice.paid", secret)
    first = api.post_webhook(PROVIDER, delivery.body, delivery.headers)
    again = api.post_webhook(PROVIDER, delivery.body, delivery.headers)
    assert first.status == again.status == 202 and first.json()["id"] == again.json()["id"]


def test_stale_delivery_is_refused(api, secret):
    delivery = standard_webhooks_delivery("contact.created", secret, timestamp=int(time.time()) - 600)
    response = api.post_webhook(PROVIDER, delivery.body, delivery.headers)
    assert response.status == 401, response.body
    assert "stale" in response.json()["message"]
