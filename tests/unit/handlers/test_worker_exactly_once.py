"""The worker's one transaction per event: AWS calls per event, exactly-once in effect under
redelivery, concurrency and replay, cancellations, and business items that stay bounded.

AWS is moto in-process; the 20,000-event test drives the store on an in-memory table that
evaluates the same update expressions (moto takes ~10 ms a transaction and copies every table in
each one), cross-checked against moto on the first events.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from handlers.contract.queue_message import QueueMessage
from handlers.platform.dynamodb_update import deserialize_item, serialize
from handlers.stores.exactly_once import ApplyOutcome, ExactlyOnceWriter, WriteCancelledError
from handlers.stores.projections import Projection, ProjectionStore
from handlers.stores.status_store import Attempt, EventMeta, Status, StatusStore, stage
from tests.helpers.moto_aws import REGION
from tests.helpers.worker_rig import (
    CallCounter,
    Context,
    eid_of,
    make_worker,
    order_body,
    projection_items,
    record,
    status_of,
)

BATCH_SIZE = 10
# The event source mapping deletes a batch's successes with one DeleteMessageBatch.
MAPPING_DELETE_PER_EVENT = 1 / BATCH_SIZE
MAX_CALLS_PER_EVENT = 2.0
DYNAMODB_ITEM_LIMIT = 400 * 1024


def redelivered(rec: dict, receive_count: int = 2) -> dict:
    return dict(rec, attributes={**rec["attributes"], "ApproximateReceiveCount": str(receive_count)})


def replayed(rec: dict, replay_count: int, body: str | bytes | None = None) -> dict:
    """The copy ``hookstack dlq replay`` sends: same attributes plus replay_count (new message)."""
    attributes = {name: value["stringValue"] for name, value in rec["messageAttributes"].items()}
    return record(
        body if body is not None else rec["body"],
        delivery_id=attributes["delivery_id"],
        group=rec["attributes"]["MessageGroupId"],
        extra_attributes={"replay_count": str(replay_count)},
    )


def cancellation(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": f"Transaction cancelled [{', '.join(codes)}]"},
            "CancellationReasons": [{"Code": code} for code in codes],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        "TransactWriteItems",
    )


class _Http:
    status_code = 400
    headers: dict[str, str] = {}


def answer_transactions_with(client: Any, error: ClientError) -> None:
    """Every TransactWriteItems on ``client`` is answered with ``error``, as if DynamoDB sent it
    (a ``before-call`` handler that returns a response short-circuits the request)."""

    def short_circuit(**_: Any) -> tuple[_Http, dict[str, Any]]:
        return _Http(), error.response

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", short_circuit)


# --- calls per event ------------------------------------------------------------------------------


def test_a_batch_of_ten_happy_events_costs_at_most_two_calls_per_event(aws):
    worker, _ = make_worker(aws)
    counter = CallCounter(aws.dynamodb, aws.sqs, aws.s3)
    batch = [record(order_body(i), group=f"acme:shop-{i % 3}") for i in range(BATCH_SIZE)]
    assert worker.handle({"Records": batch}, Context()) == {"batchItemFailures": []}
    per_event = len(counter.calls) / BATCH_SIZE + MAPPING_DELETE_PER_EVENT
    print(f"worker AWS calls per event: {per_event:.2f} ({counter.calls.count('TransactWriteItems')} transactions)")
    assert counter.calls == ["TransactWriteItems"] * BATCH_SIZE  # nothing but one transaction each
    assert per_event <= MAX_CALLS_PER_EVENT
    assert all(status_of(aws, eid_of(r))["status"] == "PROCESSED" for r in batch)


def test_a_dead_lettered_event_is_one_send_and_one_status_write(aws):
    worker, _ = make_worker(aws)
    counter = CallCounter(aws.dynamodb, aws.sqs, aws.s3)
    rec = record(json.dumps({"note": "an order without id or line items"}))
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}
    assert counter.calls == ["SendMessage", "UpdateItem"]
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "DEAD_LETTERED" and status["attempts"] == 1 and "processing_at" in status
    assert projection_items(aws) == []


# --- exactly once in effect -----------------------------------------------------------------------


def test_redelivery_applies_once_and_processed_once(aws):
    worker, _ = make_worker(aws)
    rec = record(order_body())
    worker.handle({"Records": [rec]}, Context())
    first = status_of(aws, eid_of(rec))
    assert worker.handle({"Records": [redelivered(rec)]}, Context()) == {"batchItemFailures": []}
    [item] = projection_items(aws)
    assert item["writes"] == 1
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "PROCESSED" and status["processed_at"] == first["processed_at"]
    assert status["applied_at"] == first["applied_at"]  # the marker is written once
    assert status["duplicates"] == 1 and status["attempts"] == 2  # the redelivery is counted, not applied


def test_concurrent_duplicate_one_transaction_wins(aws):
    """Two workers take two copies of one event (e.g. a provider retry after the queue's dedup
    window): the second worker's transaction commits while the first one's is on its way."""
    winner, _ = make_worker(aws)
    own_client = boto3.client("dynamodb", region_name=REGION)
    loser, _ = make_worker(SimpleNamespace(dynamodb=own_client, sqs=aws.sqs, s3=aws.s3, dlq_url=aws.dlq_url))
    rec = record(order_body(), delivery_id="twice")
    copy = record(order_body(), delivery_id="twice")
    raced: list[dict] = []

    def the_other_commits_first(**_: Any) -> None:
        if not raced:
            raced.append(winner.handle({"Records": [copy]}, Context()))

    own_client.meta.events.register("before-call.dynamodb.TransactWriteItems", the_other_commits_first)
    assert loser.handle({"Records": [rec]}, Context()) == {"batchItemFailures": []}  # a duplicate, not a failure
    assert raced == [{"batchItemFailures": []}]
    [item] = projection_items(aws)
    assert item["writes"] == 1 and item["last_event_id"] == eid_of(rec)
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "PROCESSED" and status["duplicates"] == 1


def test_other_cancellation_is_a_batch_item_failure_and_writes_nothing(aws):
    worker, _ = make_worker(aws)
    rec = record(order_body())
    answer_transactions_with(aws.dynamodb, cancellation("TransactionConflict", "None"))
    assert worker.handle({"Records": [rec]}, Context()) == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    assert projection_items(aws) == []
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "PROCESSING" and status["attempts"] == 1  # the failed attempt is recorded
    assert "applied_at" not in status


def test_a_conflict_on_the_status_item_is_retryable_too(aws):
    store = StatusStore(aws.dynamodb, "events")
    writer = ExactlyOnceWriter(store, ProjectionStore(aws.dynamodb, "projections"))
    answer_transactions_with(aws.dynamodb, cancellation("None", "TransactionConflict"))
    with pytest.raises(WriteCancelledError, match="TransactionConflict") as raised:
        writer.apply(Projection("order", "1"), _meta("evt_" + "c" * 32), generation=0, attempt=Attempt(1, 1), at_ms=2)
    assert raised.value.codes == ["None", "TransactionConflict"]


def test_a_cancellation_without_the_old_item_reads_it(aws):
    """AWS returns the stored item (ALL_OLD); where a backend leaves it out the writer reads it."""
    store = StatusStore(aws.dynamodb, "events")
    writer = ExactlyOnceWriter(store, ProjectionStore(aws.dynamodb, "projections"))
    meta = _meta("evt_" + "d" * 32)
    kwargs = dict(generation=0, attempt=Attempt(1, 1), at_ms=2)
    assert writer.apply(Projection("order", "1"), meta, **kwargs) == ApplyOutcome.APPLIED
    answer_transactions_with(aws.dynamodb, cancellation("None", "ConditionalCheckFailed"))
    assert writer.apply(Projection("order", "1"), meta, **kwargs) == ApplyOutcome.DUPLICATE


def test_replay_of_a_dead_lettered_event_after_the_fix_applies_it_once(aws):
    worker, _ = make_worker(aws)
    bad = record(json.dumps({"note": "no order"}), delivery_id="fix-me")
    worker.handle({"Records": [bad]}, Context())
    eid = eid_of(bad)
    assert status_of(aws, eid)["status"] == "DEAD_LETTERED" and projection_items(aws) == []
    meta = QueueMessage.from_record(bad).meta()
    assert StatusStore(aws.dynamodb, "events").mark_replayed(meta, 1, 10) is True
    fixed = replayed(bad, 1, order_body())
    assert worker.handle({"Records": [fixed]}, Context()) == {"batchItemFailures": []}
    assert worker.handle({"Records": [redelivered(fixed)]}, Context()) == {"batchItemFailures": []}
    [item] = projection_items(aws)
    assert item["writes"] == 1
    status = status_of(aws, eid)
    assert status["status"] == "PROCESSED" and status["stage"] == stage(Status.PROCESSED, 1)
    assert "reason" not in status and "dead_letter_kind" not in status


def test_replay_of_an_event_already_applied_does_not_apply_it_again(aws):
    """The last attempt's transaction committed but its answer was lost: SQS moved the message to
    the DLQ anyway. Its replay finds the event applied and only finishes the new generation."""
    worker, _ = make_worker(aws)
    rec = record(order_body(), delivery_id="committed")
    worker.handle({"Records": [rec]}, Context())
    meta = QueueMessage.from_record(rec).meta()
    assert StatusStore(aws.dynamodb, "events").mark_replayed(meta, 1, 10) is True
    assert worker.handle({"Records": [replayed(rec, 1)]}, Context()) == {"batchItemFailures": []}
    [item] = projection_items(aws)
    assert item["writes"] == 1
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "PROCESSED" and status["replay_count"] == 1
    assert status["stage"] == stage(Status.PROCESSED, 1)


def test_status_never_regresses(aws):
    worker, _ = make_worker(aws)
    store = StatusStore(aws.dynamodb, "events")
    rec = record(order_body(), delivery_id="done")
    worker.handle({"Records": [rec]}, Context())
    meta = QueueMessage.from_record(rec).meta()
    store.record_received(meta, 1)  # the producer's write arrives late
    assert store.mark_processing(meta, 0, 2) is False  # a failed attempt after success
    assert store.mark_dead_lettered(meta, 0, 3, reason="late", kind="transient") is False
    assert status_of(aws, eid_of(rec))["status"] == "PROCESSED"
    # A dead-lettered event: a late copy of its generation is superseded, nothing is written.
    bad = record(json.dumps({"note": "no order"}), delivery_id="bad")
    worker.handle({"Records": [bad]}, Context())
    good_copy = record(order_body(), delivery_id="bad")  # same event id, a body that validates
    assert worker.handle({"Records": [good_copy]}, Context()) == {"batchItemFailures": []}
    assert status_of(aws, eid_of(bad))["status"] == "DEAD_LETTERED"
    assert [i["last_event_id"] for i in projection_items(aws)] == [eid_of(rec)]
    # Generation 1 processed: a late generation-0 copy changes nothing.
    assert store.mark_replayed(QueueMessage.from_record(bad).meta(), 1, 4) is True
    worker.handle({"Records": [replayed(bad, 1, order_body(7))]}, Context())
    worker.handle({"Records": [redelivered(good_copy, 3)]}, Context())
    status = status_of(aws, eid_of(bad))
    assert status["status"] == "PROCESSED" and status["stage"] == stage(Status.PROCESSED, 1)
    assert sorted(i["writes"] for i in projection_items(aws)) == [1, 1]


def _meta(eid: str, tenant: str = "acme") -> EventMeta:
    return EventMeta(eid, tenant, "shopify", "orders/create", "d", f"{tenant}:shop")


# --- bounded items -------------------------------------------------------------------------------


class ItemTooLarge(Exception):
    pass


_CLAUSE = re.compile(r"\b(SET|ADD|REMOVE)\s")
_ACTIONS = re.compile(r",\s*(?![^()]*\))")  # the commas between actions, not inside if_not_exists(…)


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size, closely enough: names plus values (numbers ~ digits / 2 + 1)."""

    def value_size(value: dict[str, Any]) -> int:
        (kind, data), *_ = value.items()
        if kind == "S":
            return len(data.encode())
        if kind == "N":
            return len(data) // 2 + 1
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "SS":
            return sum(len(s.encode()) for s in data)
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in data.items())
        if kind == "L":
            return 3 + sum(value_size(v) + 1 for v in data)
        raise AssertionError(f"type {kind} not sized")

    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


class ExpressionTable:
    """In-memory tables for TransactWriteItems ``Update`` members of the form UpdateBuilder writes
    (SET a = :v | a = if_not_exists(a, :v), ADD a :n | a :set, REMOVE a), with DynamoDB's 400 KB
    item limit. Conditions are not evaluated: every event sent to it is new. Sizes are kept per
    attribute, so a growing set costs its additions, not its whole size, on each write."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self._sizes: dict[tuple[str, str], dict[str, int]] = {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        for member in TransactItems:
            self._update(member["Update"])
        return {}

    def size(self, table: str, key: str) -> int:
        return sum(self._sizes[(table, key)].values())

    def _update(self, request: dict[str, Any]) -> None:
        key = (request["TableName"], request["Key"]["id"]["S"])
        if key not in self.items:
            self.items[key] = dict(request["Key"])
            self._sizes[key] = {name: item_size({name: value}) for name, value in request["Key"].items()}
        item, sizes = self.items[key], self._sizes[key]
        names, values = request["ExpressionAttributeNames"], request.get("ExpressionAttributeValues", {})
        parts = _CLAUSE.split(request["UpdateExpression"])[1:]
        for verb, body in zip(parts[::2], parts[1::2], strict=True):
            for action in (a.strip() for a in _ACTIONS.split(body) if a.strip()):
                if verb == "SET":
                    target, expression = (x.strip() for x in action.split(" = ", 1))
                    name = names[target]
                    if expression.startswith("if_not_exists("):
                        item.setdefault(name, values[expression.rstrip(")").split(", ")[1]])
                    else:
                        item[name] = values[expression]
                    sizes[name] = item_size({name: item[name]})
                elif verb == "ADD":
                    target, placeholder = action.split()
                    name, value = names[target], values[placeholder]
                    if "N" in value:
                        item[name] = {"N": str(int(item.get(name, {"N": "0"})["N"]) + int(value["N"]))}
                        sizes[name] = item_size({name: item[name]})
                    else:
                        members = item.setdefault(name, {"SS": set()})["SS"]
                        added = set(value["SS"]) - members
                        members |= added
                        sizes[name] = sizes.get(name, len(name.encode())) + sum(len(m.encode()) for m in added)
                else:
                    item.pop(names[action], None)
                    sizes.pop(names[action], None)
        if sum(sizes.values()) > DYNAMODB_ITEM_LIMIT:
            raise ItemTooLarge(f"{key[1]}: {sum(sizes.values())} bytes")


def _writer_on(client: Any) -> ExactlyOnceWriter:
    return ExactlyOnceWriter(StatusStore(client, "events"), ProjectionStore(client, "projections"))


def _apply_events(writer: ExactlyOnceWriter, count: int, projection: Projection, *, first: int = 0) -> None:
    for number in range(first, first + count):
        eid = f"evt_{number:032x}"
        outcome = writer.apply(projection, _meta(eid), generation=0, attempt=Attempt(number, 1), at_ms=number)
        assert outcome == ApplyOutcome.APPLIED


ORDER = Projection("order", "1001", {"name": "#1001", "total_price": "19.99", "financial_status": "paid"})


def test_the_expression_table_agrees_with_moto(aws):
    table = ExpressionTable()
    _apply_events(_writer_on(table), 50, ORDER)
    _apply_events(_writer_on(aws.dynamodb), 50, ORDER)
    key = {"id": serialize(ORDER.item_id("acme"))}
    stored = aws.dynamodb.get_item(TableName="projections", Key=key)["Item"]
    assert deserialize_item(table.items[("projections", ORDER.item_id("acme"))]) == deserialize_item(stored)
    status_id = "evt_" + f"{49:032x}"
    moto_status = aws.dynamodb.get_item(TableName="events", Key={"id": serialize(status_id)})["Item"]
    assert deserialize_item(table.items[("events", status_id)]) == deserialize_item(moto_status)


def test_one_entity_takes_twenty_thousand_events_and_its_item_stays_bounded():
    table = ExpressionTable()
    writer = _writer_on(table)
    _apply_events(writer, 1, ORDER)
    first = table.size("projections", ORDER.item_id("acme"))
    _apply_events(writer, 20_000, ORDER, first=1)
    item = table.items[("projections", ORDER.item_id("acme"))]
    size = table.size("projections", ORDER.item_id("acme"))
    assert size == item_size(item)
    print(f"projection item after 1 event: {first} B, after 20,001 events: {size} B (limit {DYNAMODB_ITEM_LIMIT} B)")
    assert item["writes"] == {"N": "20001"}
    assert size <= first + 8  # only the counter's digits grow
    assert max(item_size(i) for (table_name, _), i in table.items.items() if table_name == "events") < 1024


def test_the_old_growing_set_would_fail_on_the_same_table():
    """The check can fail: the former write (ADD the event id to applied_events) outgrows 400 KB."""
    table = ExpressionTable()
    with pytest.raises(ItemTooLarge):
        for number in range(20_000):
            table.transact_write_items(
                [
                    {
                        "Update": {
                            "TableName": "projections",
                            "Key": {"id": {"S": "acme#order#1001"}},
                            "UpdateExpression": "ADD #writes :w, #applied_events :e",
                            "ExpressionAttributeNames": {"#writes": "writes", "#applied_events": "applied_events"},
                            "ExpressionAttributeValues": {":w": {"N": "1"}, ":e": {"SS": [f"evt_{number:032x}"]}},
                        }
                    }
                ]
            )
    assert 10_000 < int(table.items[("projections", "acme#order#1001")]["writes"]["N"]) < 12_000
