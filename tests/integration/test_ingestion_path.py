"""Through the deployed API on the embedded target: the ingestion path end to end."""

from __future__ import annotations

import json

import pytest

from stack.clients.providers.shopify import shopify_delivery
from stack.clients.token_placement import TokenPlacement
from stack.clients.webhook_client import ApiClient
from tests.helpers.status_polling import wait_for_status

pytestmark = pytest.mark.integration


def test_signed_order_is_acknowledged_then_processed(api, shopify_secret):
    delivery = shopify_delivery("orders/create", shopify_secret)
    response = api.post_webhook("shopify", delivery.body, delivery.headers)
    assert response.status == 202, response.body
    ack = response.json()
    assert ack["id"].startswith("evt_") and ack["status_url"].endswith(f"/events/{ack['id']}")
    status = wait_for_status(api, ack["id"], {"PROCESSED", "DEAD_LETTERED"})
    assert status["status"] == "PROCESSED", status


def _post_as(embedded_stack, delivery, token: str, placement: TokenPlacement = TokenPlacement()):
    client = ApiClient(embedded_stack.api_url, token, placement)
    try:
        return client.post_webhook("shopify", delivery.body, delivery.headers)
    finally:
        client.close()


def test_wrong_token_is_forbidden_at_the_authorizer(embedded_stack, shopify_secret):
    response = _post_as(embedded_stack, shopify_delivery("orders/create", shopify_secret), "not-the-token")
    assert response.status == 403, response.body


def test_missing_token_is_unauthorized(embedded_stack, shopify_secret):
    response = _post_as(
        embedded_stack,
        shopify_delivery("orders/create", shopify_secret),
        "unused",
        TokenPlacement.in_header("X-Not-The-Identity-Header"),
    )
    assert response.status == 401, response.body


def test_bad_signature_is_refused_by_the_producer(api, shopify_secret):
    delivery = shopify_delivery("orders/create", "not-the-shopify-secret")
    response = api.post_webhook("shopify", delivery.body, delivery.headers)
    assert response.status == 401, response.body
    assert "signature" in response.json().get("message", "").lower()


def test_invalid_json_is_a_bad_request(api, shopify_secret):
    delivery = shopify_delivery("orders/create", shopify_secret, body=b"{not json")
    response = api.post_webhook("shopify", delivery.body, delivery.headers)
    assert response.status == 400, response.body


def test_schema_invalid_body_is_accepted_then_dead_lettered(api, embedded_stack, shopify_secret):
    body = json.dumps({"note": "an order without id or line items"}).encode()
    delivery = shopify_delivery("orders/create", shopify_secret, body=body)
    response = api.post_webhook("shopify", delivery.body, delivery.headers)
    assert response.status == 202, response.body
    event_id = response.json()["id"]
    status = wait_for_status(api, event_id, {"DEAD_LETTERED", "PROCESSED"})
    assert status["status"] == "DEAD_LETTERED" and status.get("reason"), status
    sqs = embedded_stack.client("sqs")
    # Peek (visibility 0 leaves every message where it is) for the event in the DLQ.
    seen: set[str] = set()
    for _ in range(10):
        messages = sqs.receive_message(
            QueueUrl=embedded_stack.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        seen |= {m["MessageAttributes"]["event_id"]["StringValue"] for m in messages}
        if event_id in seen:
            break
    assert event_id in seen


def test_status_of_another_tenants_or_unknown_event_is_not_found(api):
    assert api.event_status("evt_" + "0" * 32).status == 404
