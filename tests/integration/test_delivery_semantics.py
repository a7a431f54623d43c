"""Ordering, idempotency beyond the dedup window, and fix-and-replay on the embedded target."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from handlers.stores.status_store import TERMINAL_STATUSES
from stack.clients.events import read_status_items, wait_until_terminal
from stack.clients.providers.shopify import shopify_delivery
from stack.clients.webhook_client import ApiClient
from stack.deploy.outputs import tenant_token
from stack.ops.dlq import replay
from tests.helpers.status_polling import wait_for_status

pytestmark = pytest.mark.integration


def _send_in_order(api_url: str, token: str, deliveries) -> list[str]:
    client = ApiClient(api_url, token)
    try:
        ids = []
        for delivery in deliveries:
            response = client.post_webhook("shopify", delivery.body, delivery.headers)
            assert response.status == 202, response.body
            ids.append(response.json()["id"])
        return ids
    finally:
        client.close()


def _await_final(stack, ids: list[str], timeout_s: float = 60.0) -> dict[str, dict]:
    dynamodb = stack.client("dynamodb")

    def read(pending):
        return read_status_items(dynamodb, stack.events_table, pending).values()

    return wait_until_terminal(read, ids, timeout_s=timeout_s).items


def test_burst_over_several_groups_is_processed_in_order_per_group(embedded_stack, shopify_secret):
    rng = random.Random(11)
    groups = {
        f"order-shop-{g}.myshopify.com": [
            shopify_delivery(
                rng.choice(["orders/create", "orders/updated", "products/update"]),
                shopify_secret,
                shop=f"order-shop-{g}.myshopify.com",
                rng=rng,
            )
            for _ in range(12)
        ]
        for g in range(4)
    }
    token = tenant_token(embedded_stack)
    # One sender per group, all groups at once: send order is the queue order within a group.
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        sent = dict(
            zip(
                groups,
                pool.map(lambda ds: _send_in_order(embedded_stack.api_url, token, ds), groups.values()),
                strict=True,
            )
        )
    items = _await_final(embedded_stack, [i for ids in sent.values() for i in ids])
    for shop, ids in sent.items():
        statuses = [items[i]["status"] for i in ids]
        assert statuses == ["PROCESSED"] * len(ids), (shop, statuses)
        processed_at = [int(items[i]["processed_at"]) for i in ids]
        assert processed_at == sorted(processed_at), f"{shop} processed out of order: {processed_at}"


def _projection(stack, item_id: str) -> dict:
    item = (
        stack.client("dynamodb")
        .get_item(TableName=stack.projections_table, Key={"id": {"S": item_id}}, ConsistentRead=True)
        .get("Item", {})
    )
    return item


def test_same_delivery_after_the_dedup_window_is_applied_once(api, embedded_stack, shopify_secret):
    delivery = shopify_delivery("orders/create", shopify_secret, shop="retry-shop.myshopify.com")
    first = api.post_webhook("shopify", delivery.body, delivery.headers)
    assert first.status == 202
    event_id = first.json()["id"]
    wait_for_status(api, event_id, {"PROCESSED"})
    # A provider retry within SQS's window: same id, dropped by the queue's deduplication.
    again = api.post_webhook("shopify", delivery.body, delivery.headers)
    assert again.status == 202 and again.json()["id"] == event_id
    # A retry hours later: SQS no longer remembers the id, so the same event arrives as a new
    # message. Re-inject exactly that (same body and attributes, fresh deduplication id).
    sqs = embedded_stack.client("sqs")
    order_id = json.loads(delivery.body)["id"]
    attributes = {
        "event_id": event_id,
        "tenant": "demo",
        "provider": "shopify",
        "topic": "orders/create",
        "delivery_id": delivery.delivery_id,
        "received_at": str(int(time.time() * 1000)),
    }
    sqs.send_message(
        QueueUrl=embedded_stack.queue_url,
        MessageBody=delivery.body.decode(),
        MessageGroupId="demo:retry-shop.myshopify.com",
        MessageDeduplicationId=f"late-{event_id}",
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
    marker = shopify_delivery("orders/create", shopify_secret, shop="retry-shop.myshopify.com")
    marker_id = api.post_webhook("shopify", marker.body, marker.headers).json()["id"]
    wait_for_status(api, marker_id, {"PROCESSED"})  # same group, sent after: the re-injection was handled
    projection = _projection(embedded_stack, f"demo#order#{order_id}")
    assert projection["writes"]["N"] == "1", projection
    assert "applied_events" not in projection  # the event's status item is the applied marker
    status = wait_for_status(api, event_id, {"PROCESSED"})
    assert status["status"] == "PROCESSED"


def _poison(api, shopify_secret, shop: str, count: int) -> list[tuple[str, dict]]:
    """Orders missing their line items: accepted, then dead-lettered. Returns (id, fixed body)."""
    out = []
    for _ in range(count):
        delivery = shopify_delivery("orders/create", shopify_secret, shop=shop)
        fixed = json.loads(delivery.body)
        broken = {k: v for k, v in fixed.items() if k != "line_items"}
        signed = shopify_delivery("orders/create", shopify_secret, shop=shop, body=json.dumps(broken).encode())
        response = api.post_webhook("shopify", signed.body, signed.headers)
        assert response.status == 202
        out.append((response.json()["id"], fixed))
    for event_id, _ in out:
        status = wait_for_status(api, event_id, set(TERMINAL_STATUSES))
        assert status["status"] == "DEAD_LETTERED" and "line_items" in status.get("reason", ""), status
    return out


def _hookstack_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stack.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


def test_poison_event_is_fixed_and_replayed_to_processed(api, embedded_stack, shopify_secret, tmp_path):
    ((event_id, fixed),) = _poison(api, shopify_secret, "poison-shop.myshopify.com", 1)
    listed = _hookstack_cli("dlq", "list", "--json", "--limit", "100")
    assert listed.returncode == 0, listed.stderr
    letters = {letter["event_id"]: letter for letter in json.loads(listed.stdout)}
    assert event_id in letters and "line_items" in letters[event_id]["reason"]
    fixed_file = tmp_path / "fixed.json"
    fixed_file.write_text(json.dumps(fixed))
    replayed = _hookstack_cli("dlq", "replay", "--id", event_id, "--body", str(fixed_file), "--json")
    assert replayed.returncode == 0, replayed.stderr + replayed.stdout
    assert json.loads(replayed.stdout)["replayed"] == 1
    status = wait_for_status(api, event_id, {"PROCESSED"})
    assert status["status"] == "PROCESSED" and status.get("replay_count") == 1, status


class _CrashAfterSends:
    """An SQS client that dies (like a killed process) right after its Nth send to the source queue."""

    def __init__(self, sqs, source_url: str, sends: int):
        self._sqs, self._source, self._left = sqs, source_url, sends

    def __getattr__(self, name):
        return getattr(self._sqs, name)

    def send_message(self, **kwargs):
        result = self._sqs.send_message(**kwargs)
        if kwargs["QueueUrl"] == self._source:
            self._left -= 1
            if self._left == 0:
                raise KeyboardInterrupt("replay killed between send and delete")
        return result


def test_replay_interrupted_midway_loses_nothing(api, embedded_stack, shopify_secret):
    # Schema-invalid events stay invalid: once replayed they dead-letter again, which is what lets
    # us count them all back. Three groups so the replay has several messages to get through.
    poisoned = [e for g in range(3) for e, _ in _poison(api, shopify_secret, f"kill-shop-{g}.myshopify.com", 2)]
    sqs = embedded_stack.client("sqs")
    dynamodb = embedded_stack.client("dynamodb")
    with pytest.raises(KeyboardInterrupt):
        replay(
            _CrashAfterSends(sqs, embedded_stack.queue_url, 2),
            dynamodb,
            embedded_stack.events_table,
            embedded_stack.queue_url,
            embedded_stack.dlq_url,
            ids=poisoned,
            visibility_seconds=2,
        )
    time.sleep(2.5)  # the interrupted replay's received messages become visible again
    result = replay(
        sqs,
        dynamodb,
        embedded_stack.events_table,
        embedded_stack.queue_url,
        embedded_stack.dlq_url,
        all=True,
        visibility_seconds=5,
    )
    assert result.failed == 0, result.errors
    # Every poisoned event went back through the worker (at least once) and is accounted for.
    items = _await_final(embedded_stack, poisoned)
    for event_id in poisoned:
        item = items[event_id]
        assert item["status"] == "DEAD_LETTERED" and int(item.get("replay_count", 0)) >= 1, item
