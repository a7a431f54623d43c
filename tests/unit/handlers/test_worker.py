"""Worker: DTO validation, exactly-once business writes, FIFO partial batches, DLQ routing.

AWS is moto in-process (no network). The exactly-once transaction itself (call counts, duplicates,
cancellations, bounded items) is tested in test_worker_exactly_once.py.
"""

from __future__ import annotations

import json
import random

import pytest

from handlers.contract.message import ClaimCheck, event_id
from handlers.stores.claim_check import PayloadStore
from handlers.stores.projections import ProjectionStore
from handlers.stores.status_store import StatusStore
from stack.clients.providers.github import github_delivery
from stack.clients.providers.shopify import shopify_delivery
from stack.clients.providers.stripe import stripe_delivery
from tests.helpers.worker_rig import (
    SECRET,
    Context,
    dlq_messages,
    eid_of,
    make_worker,
    order_body,
    projection_items,
    record,
    status_of,
)


def test_valid_order_is_processed_and_written_once(aws):
    worker, projections = make_worker(aws)
    rec = record(order_body())
    response = worker.handle({"Records": [rec]}, Context())
    assert response == {"batchItemFailures": []}
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "PROCESSED"
    assert status["processing_at"] <= status["processed_at"]
    assert status["tenant"] == "acme" and status["topic"] == "orders/create"
    [item] = projection_items(aws)
    order_id = json.loads(order_body())["id"]
    assert item["id"] == f"acme#order#{order_id}"
    assert item["writes"] == 1 and "applied_events" not in item
    assert status["applied_to"] == item["id"] and status["applied_at"] == status["processed_at"]
    assert item["data"]["total_price"] == json.loads(order_body())["total_price"]


def test_second_application_of_same_event_does_not_write(aws):
    worker, projections = make_worker(aws)
    rec = record(order_body(), delivery_id="same-delivery")
    again = record(order_body(), delivery_id="same-delivery")  # provider retry hours later: new message
    worker.handle({"Records": [rec]}, Context())
    assert worker.handle({"Records": [again]}, Context()) == {"batchItemFailures": []}
    assert projections.calls == [eid_of(rec), eid_of(rec)]  # the second transaction was cancelled
    [item] = projection_items(aws)
    assert item["writes"] == 1
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "PROCESSED" and status["duplicates"] == 1


def test_projection_write_is_conditional_on_the_event_status(aws):
    from handlers.stores.exactly_once import ApplyOutcome, ExactlyOnceWriter
    from handlers.stores.projections import Projection
    from handlers.stores.status_store import Attempt, EventMeta

    status = StatusStore(aws.dynamodb, "events")
    writer = ExactlyOnceWriter(status, ProjectionStore(aws.dynamodb, "projections"))
    projection = Projection("order", "42", {"name": "#1"})

    def meta(eid: str) -> EventMeta:
        return EventMeta(eid, "acme", "shopify", "orders/create", "d", "acme:shop")

    first, second = "evt_" + "a" * 32, "evt_" + "b" * 32
    kwargs = dict(generation=0, attempt=Attempt(1, 1), at_ms=2)
    assert writer.apply(projection, meta(first), **kwargs) == ApplyOutcome.APPLIED
    assert writer.apply(projection, meta(first), **kwargs) == ApplyOutcome.DUPLICATE
    assert writer.apply(projection, meta(second), **kwargs) == ApplyOutcome.APPLIED
    [item] = projection_items(aws)
    assert item["writes"] == 2 and item["last_event_id"] == second


def test_schema_mismatch_goes_to_dlq_at_once_and_counts_as_success(aws):
    worker, projections = make_worker(aws)
    rec = record(json.dumps({"note": "an order without id or line items"}))
    response = worker.handle({"Records": [rec]}, Context())
    assert response == {"batchItemFailures": []}  # deleted from the source
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "DEAD_LETTERED" and status["dead_letter_kind"] == "permanent"
    assert "schema mismatch" in status["reason"] and "line_items" in status["reason"]
    [message] = dlq_messages(aws)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["event_id"] == eid_of(rec)
    assert attributes["dead_letter_kind"] == "permanent"
    assert "schema mismatch" in attributes["dead_letter_reason"]
    assert int(attributes["dead_lettered_at"]) > 0
    assert attributes["topic"] == "orders/create" and attributes["tenant"] == "acme"
    assert message["Attributes"]["MessageGroupId"] == rec["attributes"]["MessageGroupId"]
    assert message["Body"] == rec["body"]
    assert projections.calls == []


def test_wrong_type_is_permanent(aws):
    worker, _ = make_worker(aws)
    body = json.loads(order_body())
    body["line_items"][0]["quantity"] = "many"
    rec = record(json.dumps(body))
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    assert status_of(aws, eid_of(rec))["status"] == "DEAD_LETTERED"


def test_transient_failure_raises_for_sqs_retry_and_status_stays_processing(aws):
    worker, projections = make_worker(aws, always=True)
    rec = record(order_body(), receive_count=1)
    response = worker.handle({"Records": [rec]}, Context())
    assert response == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    assert status_of(aws, eid_of(rec))["status"] == "PROCESSING"
    assert dlq_messages(aws) == []  # SQS, not the worker, redrives transient failures


def test_transient_failure_on_last_attempt_records_dead_lettered_then_retries(aws):
    worker, _ = make_worker(aws, max_receive_count=3, always=True)
    rec = record(order_body(), receive_count=3)
    response = worker.handle({"Records": [rec]}, Context())
    assert response == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "DEAD_LETTERED" and status["dead_letter_kind"] == "transient"
    assert "retries exhausted" in status["reason"] and "timed out" in status["reason"]
    assert dlq_messages(aws) == []  # SQS moves it after this receive


def test_transient_failure_then_success_applies_once(aws):
    worker, projections = make_worker(aws)
    rec = record(order_body())
    projections.fail_for = {eid_of(rec)}
    assert worker.handle({"Records": [rec]}, Context())["batchItemFailures"]
    projections.fail_for = set()
    retry = dict(rec, attributes={**rec["attributes"], "ApproximateReceiveCount": "2"})
    assert worker.handle({"Records": [retry]}, Context()) == {"batchItemFailures": []}
    assert status_of(aws, eid_of(rec))["status"] == "PROCESSED"
    assert status_of(aws, eid_of(rec))["attempts"] == 2
    [item] = projection_items(aws)
    assert item["writes"] == 1


def test_fifo_group_stops_at_first_failure_other_groups_continue(aws):
    worker, projections = make_worker(aws)
    a1, a2, a3 = (record(order_body(i), group="acme:shop-a") for i in (1, 2, 3))
    b1, b2 = (record(order_body(i), group="acme:shop-b") for i in (4, 5))
    projections.fail_for = {eid_of(a2)}
    batch = [a1, b1, a2, b2, a3]
    response = worker.handle({"Records": batch}, Context())
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    assert failed == [a2["messageId"], a3["messageId"]]  # a3 never attempted: order kept
    assert projections.calls == [eid_of(a1), eid_of(b1), eid_of(a2), eid_of(b2)]
    assert status_of(aws, eid_of(b2))["status"] == "PROCESSED"
    assert StatusStore(aws.dynamodb, "events").get(eid_of(a3)) is None


def test_whole_batch_failing_is_reported_not_raised(aws):
    worker, _ = make_worker(aws, always=True)
    recs = [record(order_body(i), group=f"acme:shop-{i}") for i in range(3)]
    response = worker.handle({"Records": recs}, Context())
    assert len(response["batchItemFailures"]) == 3


def test_unknown_topic_is_processed_generically(aws):
    worker, _ = make_worker(aws)
    rec = record(json.dumps({"id": 7, "cart_token": "abc"}), topic="carts/create")
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    assert status_of(aws, eid_of(rec))["status"] == "PROCESSED"
    [item] = projection_items(aws)
    assert item["kind"] == "event" and item["id"] == f"acme#event#{eid_of(rec)}"
    assert json.loads(item["data"]["payload"]) == {"id": 7, "cart_token": "abc"}
    assert dlq_messages(aws) == []


def test_a_body_nested_too_deep_for_any_parser_is_dead_lettered_at_once(aws):
    # Only reachable around the producer (a replay with --body): no RecursionError, no retries.
    worker, _ = make_worker(aws)
    rec = record("[" * 5000 + "]" * 5000, topic="carts/create")
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "DEAD_LETTERED" and "nested more than" in status["reason"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: stripe_delivery("payment_intent.succeeded", SECRET, rng=random.Random(3)),
        lambda: stripe_delivery("invoice.paid", SECRET, rng=random.Random(3), account="acct_123"),
        lambda: github_delivery("push", SECRET, rng=random.Random(3)),
    ],
)
def test_other_providers_are_processed(aws, make):
    worker, _ = make_worker(aws)
    delivery = make()
    rec = record(delivery.body, provider=delivery.provider, topic=delivery.topic)
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    assert status_of(aws, eid_of(rec))["status"] == "PROCESSED"


def test_claim_check_round_trip(aws):
    worker, _ = make_worker(aws)
    body = shopify_delivery("orders/create", SECRET, rng=random.Random(9), size_bytes=300_000).body
    eid = event_id("acme", "shopify", "big-delivery")
    claim = PayloadStore(aws.s3, "payloads").put("acme", eid, body)
    assert claim.key.startswith("payloads/acme/") and claim.bytes == len(body)
    rec = record(claim.to_message_body(), delivery_id="big-delivery", extra_attributes={"claim_check": "1"})
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    assert status_of(aws, eid)["status"] == "PROCESSED"
    [item] = projection_items(aws)
    assert item["id"] == f"acme#order#{json.loads(body)['id']}"


def test_corrupt_claim_check_is_permanent(aws):
    worker, _ = make_worker(aws)
    body = order_body()
    claim = PayloadStore(aws.s3, "payloads").put("acme", "evt_x", body)
    aws.s3.put_object(Bucket="payloads", Key=claim.key, Body=body.replace(b'"USD"', b'"EUR"'))
    rec = record(claim.to_message_body(), extra_attributes={"claim_check": "1"})
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "DEAD_LETTERED" and "sha256" in status["reason"]


def test_missing_claim_check_object_is_permanent(aws):
    worker, _ = make_worker(aws)
    claim = ClaimCheck(bucket="payloads", key="payloads/acme/gone.json", bytes=10, sha256="0" * 64)
    rec = record(claim.to_message_body(), extra_attributes={"claim_check": "1"})
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    assert "gone" in status_of(aws, eid_of(rec))["reason"]


def test_message_without_contract_attributes_is_dead_lettered(aws):
    worker, _ = make_worker(aws)
    rec = record(order_body())
    rec["messageAttributes"] = {}
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    [message] = dlq_messages(aws)
    assert "lacks attributes" in message["MessageAttributes"]["dead_letter_reason"]["StringValue"]


def test_status_never_regresses_and_replay_starts_a_new_generation(aws):
    worker, _ = make_worker(aws)
    bad = json.dumps({"note": "no order"})
    rec = record(bad, delivery_id="fix-me")
    worker.handle({"Records": [rec]}, Context())
    eid = eid_of(rec)
    assert status_of(aws, eid)["status"] == "DEAD_LETTERED"
    # A late first delivery of generation 0 changes nothing.
    again = record(bad, delivery_id="fix-me")
    worker.handle({"Records": [again]}, Context())
    store = StatusStore(aws.dynamodb, "events")
    from handlers.contract.queue_message import QueueMessage

    meta = QueueMessage.from_record(rec).meta()
    store.record_received(meta, 1)
    assert status_of(aws, eid)["status"] == "DEAD_LETTERED"
    # Replay #1 with a fixed body: REPLAYED, then processed in generation 1.
    assert store.mark_replayed(meta, 1, 2) is True
    assert status_of(aws, eid)["status"] == "REPLAYED"
    fixed = record(order_body(), delivery_id="fix-me", extra_attributes={"replay_count": "1"})
    assert worker.handle({"Records": [fixed]}, Context()) == {"batchItemFailures": []}
    status = status_of(aws, eid)
    assert status["status"] == "PROCESSED" and status["replay_count"] == 1
    assert "reason" not in status
    assert store.mark_processing(meta, 0, 3) is False  # generation 0 cannot come back


def test_handler_module_reads_its_settings_lazily(monkeypatch):
    import handlers.worker as module

    for name in ("EVENTS_TABLE", "PROJECTIONS_TABLE", "DLQ_URL"):
        monkeypatch.delenv(name, raising=False)
    module._worker.cache_clear()
    from handlers.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="EVENTS_TABLE"):
        module.handler({"Records": []}, None)
    module._worker.cache_clear()


def test_dead_letter_copy_stays_within_the_sqs_attribute_limit(aws):
    worker, _ = make_worker(aws)
    claim = PayloadStore(aws.s3, "payloads").put("acme", "evt_big", json.dumps({"no": "order"}).encode())
    rec = record(
        claim.to_message_body(), extra_attributes={"claim_check": "1", "api_version": "2025-10", "replay_count": "2"}
    )
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    [message] = dlq_messages(aws)
    names = set(message["MessageAttributes"])
    assert len(names) <= 10
    assert {
        "event_id",
        "tenant",
        "provider",
        "topic",
        "claim_check",
        "replay_count",
        "dead_letter_reason",
        "dead_letter_kind",
        "dead_lettered_at",
    } <= names


def test_group_ids_are_valid_for_sqs():
    from handlers.contract.message import message_group_id

    assert message_group_id("acme", "shop.myshopify.com") == "acme:shop.myshopify.com"
    for key in ("x" * 300, "späces and ünicode", ""):
        group = message_group_id("acme", key)
        assert 0 < len(group) <= 128 and all(33 <= ord(c) <= 126 for c in group)
    assert message_group_id("acme", "x" * 300) != message_group_id("globex", "x" * 300)
    assert len(message_group_id("t" * 200, "k")) <= 128


def test_records_skipped_behind_a_failure_on_their_last_receive_are_marked_dead_lettered(aws):
    worker, projections = make_worker(aws, max_receive_count=3)
    a1, a2 = (record(order_body(i), group="acme:shop-a", receive_count=3) for i in (1, 2))
    early = record(order_body(3), group="acme:shop-c", receive_count=3)
    early_skipped = record(order_body(4), group="acme:shop-c", receive_count=1)
    projections.fail_for = {eid_of(a1), eid_of(early)}
    response = worker.handle({"Records": [a1, a2, early, early_skipped]}, Context())
    assert len(response["batchItemFailures"]) == 4
    skipped = status_of(aws, eid_of(a2))
    assert skipped["status"] == "DEAD_LETTERED" and skipped["dead_letter_kind"] == "transient"
    assert "not attempted" in skipped["reason"]
    attempted = status_of(aws, eid_of(a1))
    assert "timed out" in attempted["reason"]  # its own reason is kept, not overwritten
    # Not yet on its last receive: SQS will deliver it again, so no status is invented.
    assert StatusStore(aws.dynamodb, "events").get(eid_of(early_skipped)) is None
