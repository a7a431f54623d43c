"""DLQ list/show/replay: receive → send to source → REPLAYED → delete, and nothing lost when a
replay dies between send and delete."""

from __future__ import annotations

import hashlib
import itertools
import json
import random

import boto3
import pytest
from moto import mock_aws

from handlers.contract.message import event_id, to_sqs_attributes
from handlers.stores.status_store import StatusStore
from stack.clients.providers.shopify import shopify_delivery
from stack.errors import HookstackError
from stack.ops.dlq import list_dead_letters, replay, replay_deduplication_id, show

SOURCE = "https://sqs.us-east-1.amazonaws.com/000000000000/ingest.fifo"
DLQ = "https://sqs.us-east-1.amazonaws.com/000000000000/ingest-dlq.fifo"


class FakeFifoSqs:
    """Enough FIFO semantics to test replay: per-group order, a group hidden while one of its
    messages is in flight, visibility timeouts (advanced by ``expire``), deduplication ids."""

    def __init__(self):
        self.queues: dict[str, list[dict]] = {SOURCE: [], DLQ: []}
        self.dedup: dict[str, set[str]] = {SOURCE: set(), DLQ: set()}
        self._ids = itertools.count(1)
        self.fail_send = False
        self.fail_delete: BaseException | None = None
        self.sends = 0

    def put(self, url, body, group, attributes, dedup=None):
        dedup = dedup or hashlib.sha256(body.encode()).hexdigest()
        if dedup in self.dedup[url]:
            return None
        self.dedup[url].add(dedup)
        message = {
            "MessageId": f"m{next(self._ids)}",
            "Body": body,
            "group": group,
            "attributes": attributes,
            "in_flight": False,
            "receipt": None,
            "receives": 0,
        }
        self.queues[url].append(message)
        return message["MessageId"]

    def send_message(self, QueueUrl, MessageBody, MessageGroupId, MessageDeduplicationId, MessageAttributes):
        if self.fail_send:
            raise ConnectionError("sqs unreachable")
        self.sends += 1
        attributes = {k: v["StringValue"] for k, v in MessageAttributes.items()}
        assert len(attributes) <= 10, "SQS allows 10 message attributes"
        message_id = self.put(QueueUrl, MessageBody, MessageGroupId, attributes, MessageDeduplicationId)
        return {"MessageId": message_id or "deduplicated"}

    def receive_message(self, QueueUrl, MaxNumberOfMessages, VisibilityTimeout, **_):
        busy = {m["group"] for m in self.queues[QueueUrl] if m["in_flight"]}
        out = []
        for message in self.queues[QueueUrl]:
            if len(out) >= MaxNumberOfMessages:
                break
            if message["in_flight"] or message["group"] in busy:
                continue
            message["receives"] += 1
            message["receipt"] = f"rh-{message['MessageId']}-{message['receives']}"
            message["in_flight"] = VisibilityTimeout > 0
            out.append(
                {
                    "MessageId": message["MessageId"],
                    "ReceiptHandle": message["receipt"],
                    "Body": message["Body"],
                    "Attributes": {
                        "MessageGroupId": message["group"],
                        "ApproximateReceiveCount": str(message["receives"]),
                    },
                    "MessageAttributes": to_sqs_attributes(message["attributes"]),
                }
            )
        return {"Messages": out} if out else {}

    def delete_message(self, QueueUrl, ReceiptHandle):
        if self.fail_delete is not None:
            raise self.fail_delete
        self.queues[QueueUrl] = [m for m in self.queues[QueueUrl] if m["receipt"] != ReceiptHandle]

    def change_message_visibility_batch(self, QueueUrl, Entries):
        handles = {e["ReceiptHandle"] for e in Entries if e["VisibilityTimeout"] == 0}
        for message in self.queues[QueueUrl]:
            if message["receipt"] in handles:
                message["in_flight"] = False
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def expire(self):
        """The visibility timeout passes: everything in flight is visible again."""
        for queue in self.queues.values():
            for message in queue:
                message["in_flight"] = False

    def visible(self, url) -> list[dict]:
        return [m for m in self.queues[url] if not m["in_flight"]]


@pytest.fixture
def dynamodb(moto_aws):
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName="events",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client


def dead_letter(sqs: FakeFifoSqs, n: int, *, group="acme:shop-a", kind="permanent", extra=None) -> str:
    eid = event_id("acme", "shopify", f"d-{n}")
    attributes = {
        "event_id": eid,
        "tenant": "acme",
        "provider": "shopify",
        "topic": "orders/create",
        "delivery_id": f"d-{n}",
        "received_at": "1700000000000",
        **(extra or {}),
    }
    if kind:
        attributes.update(
            dead_letter_reason=f"schema mismatch #{n}", dead_letter_kind=kind, dead_lettered_at="1700000001000"
        )
    sqs.put(DLQ, json.dumps({"n": n, "pad": "x" * 300}), group, attributes)
    return eid


def status(dynamodb, eid):
    return StatusStore(dynamodb, "events").get(eid)


def test_list_shows_typed_records_and_leaves_them_in_the_dlq():
    sqs = FakeFifoSqs()
    ids = [dead_letter(sqs, n, group=f"acme:shop-{n % 2}") for n in range(3)]
    dead_letter(sqs, 9, kind=None)  # moved by SQS redrive: no worker attributes
    letters = list_dead_letters(sqs, DLQ, limit=10)
    assert {letter.event_id for letter in letters} == {*ids, event_id("acme", "shopify", "d-9")}
    first = next(letter for letter in letters if letter.event_id == ids[0])
    assert first.reason == "schema mismatch #0" and first.kind == "permanent"
    assert first.group == "acme:shop-0" and first.topic == "orders/create"
    assert first.body_bytes > 300 and len(first.body_preview) <= 160 and first.body_preview.endswith("…")
    redriven = next(letter for letter in letters if letter.event_id == event_id("acme", "shopify", "d-9"))
    assert redriven.kind == "transient" and "redrive" in redriven.reason
    assert len(sqs.visible(DLQ)) == 4


def test_show_returns_the_whole_message_or_a_clear_error():
    sqs = FakeFifoSqs()
    eid = dead_letter(sqs, 1)
    letter = show(sqs, DLQ, eid)
    assert json.loads(letter.body)["n"] == 1 and letter.attributes["delivery_id"] == "d-1"
    assert letter.as_dict(include_body=True)["body"] == letter.body
    with pytest.raises(HookstackError, match="not in the dead-letter queue"):
        show(sqs, DLQ, "evt_" + "0" * 32)
    assert len(sqs.visible(DLQ)) == 1


def test_replay_one_id_reinjects_with_group_attributes_and_a_fresh_dedup_id(dynamodb):
    sqs = FakeFifoSqs()
    target = dead_letter(sqs, 1, group="acme:shop-a")
    other = dead_letter(sqs, 2, group="acme:shop-b")
    result = replay(sqs, dynamodb, "events", SOURCE, DLQ, ids=[target])
    assert result.replayed == 1 and result.replayed_ids == [target] and result.not_found == []
    [message] = sqs.queues[SOURCE]
    assert message["group"] == "acme:shop-a"
    assert message["attributes"]["event_id"] == target and message["attributes"]["replay_count"] == "1"
    assert not {"dead_letter_reason", "dead_letter_kind", "dead_lettered_at"} & set(message["attributes"])
    assert target not in sqs.dedup[SOURCE]  # not the original dedup id (SQS may still remember it)
    assert [m["attributes"]["event_id"] for m in sqs.visible(DLQ)] == [other]
    item = status(dynamodb, target)
    assert item["status"] == "REPLAYED" and item["replay_count"] == 1 and item["replayed_at"] > 0


def test_replay_all(dynamodb):
    sqs = FakeFifoSqs()
    ids = [dead_letter(sqs, n, group=f"acme:shop-{n % 3}") for n in range(7)]
    result = replay(sqs, dynamodb, "events", SOURCE, DLQ, all=True)
    assert result.replayed == 7 and sorted(result.replayed_ids) == sorted(ids)
    assert sqs.queues[DLQ] == []
    # Per-group order is kept in the source queue.
    for group in {f"acme:shop-{n % 3}" for n in range(7)}:
        in_dlq_order = [eid for n, eid in enumerate(ids) if f"acme:shop-{n % 3}" == group]
        assert [m["attributes"]["event_id"] for m in sqs.queues[SOURCE] if m["group"] == group] == in_dlq_order


def test_dry_run_changes_nothing(dynamodb):
    sqs = FakeFifoSqs()
    ids = [dead_letter(sqs, n) for n in range(3)]
    result = replay(sqs, dynamodb, "events", SOURCE, DLQ, all=True, dry_run=True)
    assert result.would_replay == 3 and result.replayed == 0
    assert sqs.queues[SOURCE] == [] and len(sqs.visible(DLQ)) == 3
    assert all(status(dynamodb, eid) is None for eid in ids)


def test_body_override_replaces_the_body_of_one_event(dynamodb):
    sqs = FakeFifoSqs()
    eid = dead_letter(sqs, 1, extra={"claim_check": "1"})
    fixed = b'{"id": 1, "fixed": true}'
    replay(sqs, dynamodb, "events", SOURCE, DLQ, ids=[eid], body_override=fixed)
    [message] = sqs.queues[SOURCE]
    assert message["Body"] == fixed.decode() and "claim_check" not in message["attributes"]
    with pytest.raises(HookstackError, match="exactly one"):
        replay(sqs, dynamodb, "events", SOURCE, DLQ, all=True, body_override=fixed)


def test_arguments_are_checked(dynamodb):
    sqs = FakeFifoSqs()
    with pytest.raises(HookstackError):
        replay(sqs, dynamodb, "events", SOURCE, DLQ)
    with pytest.raises(HookstackError):
        replay(sqs, dynamodb, "events", SOURCE, DLQ, ids=["evt_x"], all=True)


def test_replay_killed_between_send_and_delete_loses_nothing_when_run_again(dynamodb):
    sqs = FakeFifoSqs()
    ids = [dead_letter(sqs, n, group=f"acme:shop-{n}") for n in range(3)]
    sqs.fail_delete = KeyboardInterrupt()  # the process dies right after the first send
    with pytest.raises(KeyboardInterrupt):
        replay(sqs, dynamodb, "events", SOURCE, DLQ, all=True)
    assert sqs.sends == 1 and len(sqs.queues[SOURCE]) == 1 and len(sqs.queues[DLQ]) == 3
    sqs.fail_delete = None
    sqs.expire()  # the killed run's visibility timeout passes
    result = replay(sqs, dynamodb, "events", SOURCE, DLQ, all=True)
    assert result.replayed == 3 and sqs.queues[DLQ] == []
    # Every event is in the source queue; the re-send of the first was dropped by its dedup id.
    assert sorted(m["attributes"]["event_id"] for m in sqs.queues[SOURCE]) == sorted(ids)
    assert sqs.sends == 4


def test_delete_failure_is_reported_and_a_rerun_is_harmless(dynamodb):
    sqs = FakeFifoSqs()
    eid = dead_letter(sqs, 1)
    sqs.fail_delete = ConnectionError("sqs hiccup")
    result = replay(sqs, dynamodb, "events", SOURCE, DLQ, ids=[eid])
    assert result.replayed == 1 and result.delete_failed == 1 and "re-run is safe" in result.errors[0]
    sqs.fail_delete = None
    sqs.expire()
    again = replay(sqs, dynamodb, "events", SOURCE, DLQ, ids=[eid])
    assert again.replayed == 1 and sqs.queues[DLQ] == [] and len(sqs.queues[SOURCE]) == 1


def test_send_failure_leaves_the_message_in_the_dlq(dynamodb):
    sqs = FakeFifoSqs()
    eid = dead_letter(sqs, 1)
    sqs.fail_send = True
    result = replay(sqs, dynamodb, "events", SOURCE, DLQ, ids=[eid])
    assert result.failed == 1 and result.replayed == 0
    assert len(sqs.visible(DLQ)) == 1 and status(dynamodb, eid) is None


def test_target_behind_another_message_of_its_group_is_reported_not_found(dynamodb):
    sqs = FakeFifoSqs()
    for n in range(12):  # more than one receive batch in a single group
        dead_letter(sqs, n, group="acme:shop-a")
    last = event_id("acme", "shopify", "d-11")
    result = replay(sqs, dynamodb, "events", SOURCE, DLQ, ids=[last])
    assert result.not_found == [last] and result.replayed == 0
    assert len(sqs.visible(DLQ)) == 12  # everything released


def test_a_second_replay_gets_a_new_generation_and_dedup_id(dynamodb):
    sqs = FakeFifoSqs()
    eid = dead_letter(sqs, 1, extra={"replay_count": "1"})
    replay(sqs, dynamodb, "events", SOURCE, DLQ, ids=[eid])
    [message] = sqs.queues[SOURCE]
    assert message["attributes"]["replay_count"] == "2"
    assert replay_deduplication_id(eid, 2, "b") != replay_deduplication_id(eid, 1, "b")
    assert replay_deduplication_id(eid, 2, "b") != replay_deduplication_id(eid, 2, "c")


def test_attribute_count_stays_within_the_sqs_limit(dynamodb):
    sqs = FakeFifoSqs()
    eid = dead_letter(sqs, 1, extra={"api_version": "2025-10", "claim_check": "1", "replay_count": "3"})
    replay(sqs, dynamodb, "events", SOURCE, DLQ, ids=[eid])  # the fake asserts <= 10
    assert sqs.queues[SOURCE][0]["attributes"]["replay_count"] == "4"


class LambdaContext:
    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def test_end_to_end_fix_and_replay_through_the_worker(monkeypatch):
    """Worker dead-letters a schema-invalid order (moto SQS), the operator replays it with a fixed
    body, the worker processes the replay: PROCESSED in generation 1."""
    from handlers.contract.settings import WorkerSettings
    from handlers.stores.claim_check import PayloadStore
    from handlers.stores.dead_letters import DeadLetterQueue
    from handlers.stores.projections import ProjectionStore
    from handlers.worker import Worker

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        for table in ("events", "projections"):
            ddb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        sqs = boto3.client("sqs", region_name="us-east-1")
        source = sqs.create_queue(QueueName="ingest.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        dlq = sqs.create_queue(QueueName="ingest-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="payloads")
        worker = Worker(
            WorkerSettings("events", "projections", dlq, "payloads", 3),
            status=StatusStore(ddb, "events"),
            projections=ProjectionStore(ddb, "projections"),
            payloads=PayloadStore(s3, "payloads"),
            dead_letters=DeadLetterQueue(sqs, dlq),
        )
        eid = event_id("acme", "shopify", "broken-1")
        attributes = {
            "event_id": eid,
            "tenant": "acme",
            "provider": "shopify",
            "topic": "orders/create",
            "delivery_id": "broken-1",
            "received_at": "1700000000000",
            "api_version": "2025-10",
        }
        sqs.send_message(
            QueueUrl=source,
            MessageBody='{"note": "no order here"}',
            MessageGroupId="acme:shop",
            MessageDeduplicationId=eid,
            MessageAttributes=to_sqs_attributes(attributes),
        )

        def drain_source():
            messages = sqs.receive_message(
                QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
            ).get("Messages", [])
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m["Attributes"],
                    "messageAttributes": {
                        k: {"stringValue": v["StringValue"], "dataType": "String"}
                        for k, v in m.get("MessageAttributes", {}).items()
                    },
                }
                for m in messages
            ]
            response = worker.handle({"Records": records}, LambdaContext())
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            for m in messages:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=source, ReceiptHandle=m["ReceiptHandle"])
            return len(messages)

        assert drain_source() == 1
        assert StatusStore(ddb, "events").get(eid)["status"] == "DEAD_LETTERED"
        [letter] = list_dead_letters(sqs, dlq)
        assert letter.event_id == eid and letter.kind == "permanent" and "schema mismatch" in letter.reason
        fixed = shopify_delivery("orders/create", "s", rng=random.Random(1)).body
        result = replay(sqs, ddb, "events", source, dlq, ids=[eid], body_override=fixed)
        assert result.replayed == 1 and result.errors == []
        assert StatusStore(ddb, "events").get(eid)["status"] == "REPLAYED"
        assert drain_source() == 1
        item = StatusStore(ddb, "events").get(eid)
        assert item["status"] == "PROCESSED" and item["replay_count"] == 1
        assert list_dead_letters(sqs, dlq) == []
