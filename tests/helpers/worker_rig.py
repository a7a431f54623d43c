"""The worker under test on moto (see :mod:`tests.helpers.moto_aws`): settings, a failing
downstream, a Lambda context, SQS records the way the event source mapping delivers them, and
readers for what the worker left in the tables and the DLQ."""

from __future__ import annotations

import random

from handlers.contract.message import event_id, to_sqs_attributes
from handlers.contract.settings import WorkerSettings
from handlers.stores.claim_check import PayloadStore
from handlers.stores.dead_letters import DeadLetterQueue
from handlers.stores.projections import ProjectionStore
from handlers.stores.status_store import StatusStore
from handlers.worker import Worker
from stack.clients.providers.shopify import shopify_delivery
from tests.helpers.moto_aws import REGION

SECRET = "shpss_test_secret"


class FailingProjections(ProjectionStore):
    """A downstream that fails (throttled, timed out) for chosen event ids or always: the
    transaction carrying the business write is never sent. ``calls``: the event ids whose write
    was attempted, in order."""

    def __init__(self, inner: ProjectionStore, fail_for: set[str] | None = None, always: bool = False):
        self._inner = inner
        self.fail_for = fail_for or set()
        self.always = always
        self.calls: list[str] = []

    def write_request(self, projection, *, tenant, provider, topic, event_id, at_ms):
        self.calls.append(event_id)
        if self.always or event_id in self.fail_for:
            raise TimeoutError("projections table timed out")
        return self._inner.write_request(
            projection, tenant=tenant, provider=provider, topic=topic, event_id=event_id, at_ms=at_ms
        )


class CallCounter:
    """Counts the AWS calls made through boto3 clients (botocore's ``before-call`` event), by
    operation name."""

    def __init__(self, *clients):
        self.calls: list[str] = []
        for aws_client in clients:
            aws_client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model, **_):
        self.calls.append(model.name)

    def reset(self) -> None:
        self.calls.clear()


class Context:
    function_name = "hookstack-dev-worker"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:hookstack-dev-worker"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def make_worker(aws, *, max_receive_count: int = 3, fail_for: set[str] | None = None, always: bool = False):
    settings = WorkerSettings(
        events_table="events",
        projections_table="projections",
        dlq_url=aws.dlq_url,
        payload_bucket="payloads",
        max_receive_count=max_receive_count,
    )
    projections = FailingProjections(ProjectionStore(aws.dynamodb, "projections"), fail_for, always)
    worker = Worker(
        settings,
        status=StatusStore(aws.dynamodb, "events"),
        projections=projections,
        payloads=PayloadStore(aws.s3, "payloads"),
        dead_letters=DeadLetterQueue(aws.sqs, aws.dlq_url),
    )
    return worker, projections


_counter = iter(range(1, 10**9))


def record(
    body: str | bytes,
    *,
    tenant="acme",
    provider="shopify",
    topic="orders/create",
    delivery_id=None,
    group=None,
    receive_count=1,
    extra_attributes=None,
) -> dict:
    """A Lambda SQS event record the way the event source mapping delivers it."""
    number = next(_counter)
    delivery_id = delivery_id or f"delivery-{number}"
    eid = event_id(tenant, provider, delivery_id)
    attributes = {
        "event_id": eid,
        "tenant": tenant,
        "provider": provider,
        "topic": topic,
        "delivery_id": delivery_id,
        "received_at": "1700000000000",
        **(extra_attributes or {}),
    }
    return {
        "messageId": f"m-{number}",
        "receiptHandle": f"rh-{number}",
        "body": body.decode() if isinstance(body, bytes) else body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1700000000000",
            "MessageGroupId": group or f"{tenant}:demo-shop.myshopify.com",
            "MessageDeduplicationId": eid,
            "SequenceNumber": str(number),
        },
        "messageAttributes": {
            k: {"stringValue": v["StringValue"], "dataType": "String"} for k, v in to_sqs_attributes(attributes).items()
        },
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:ingest.fifo",
        "awsRegion": REGION,
    }


def order_body(seed: int = 1) -> bytes:
    return shopify_delivery("orders/create", SECRET, rng=random.Random(seed)).body


def status_of(aws, eid: str) -> dict:
    item = StatusStore(aws.dynamodb, "events").get(eid)
    assert item is not None, f"no status item for {eid}"
    return item


def projection_items(aws) -> list[dict]:
    from handlers.platform.dynamodb_update import deserialize_item

    return [deserialize_item(i) for i in aws.dynamodb.scan(TableName="projections")["Items"]]


def dlq_messages(aws) -> list[dict]:
    return aws.sqs.receive_message(
        QueueUrl=aws.dlq_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    ).get("Messages", [])


def eid_of(rec: dict) -> str:
    return rec["messageAttributes"]["event_id"]["stringValue"]
