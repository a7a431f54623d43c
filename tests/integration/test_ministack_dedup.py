"""FIFO deduplication on the patched MiniStack, end to end over HTTP (small on purpose)."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config

from stack.embedded.emulator import MiniStackProcess
from stack.embedded.ministack.patches import DEDUP_PRUNE_PATCH

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ministack():
    with MiniStackProcess(patched=True) as process:
        yield process


@pytest.fixture(scope="module")
def sqs_client(ministack):
    return boto3.client(
        "sqs",
        endpoint_url=ministack.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def fifo_queue(sqs_client):
    name = f"dedup-{uuid.uuid4().hex[:12]}.fifo"
    url = sqs_client.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    yield url
    sqs_client.delete_queue(QueueUrl=url)


def _receive_all(sqs_client, url: str) -> list[dict]:
    received: list[dict] = []
    for _ in range(10):  # bounded: a few messages, at most 10 per call
        batch = sqs_client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            break
        received += batch
        # One in-flight message hides its whole group on MiniStack: delete to see the rest.
        for message in batch:
            sqs_client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return received


def test_server_runs_with_the_dedup_patch(ministack):
    assert f"{DEDUP_PRUNE_PATCH}: applied" in ministack.log_text()


def test_duplicate_within_window_is_dropped_even_after_delete(sqs_client, fifo_queue):
    first = sqs_client.send_message(
        QueueUrl=fifo_queue, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="delivery-1"
    )
    fresh = [
        sqs_client.send_message(
            QueueUrl=fifo_queue, MessageBody=f"filler-{i}", MessageGroupId="g", MessageDeduplicationId=f"filler-{i}"
        )
        for i in range(50)
    ]
    received = _receive_all(sqs_client, fifo_queue)
    again = sqs_client.send_message(
        QueueUrl=fifo_queue, MessageBody="one, retried", MessageGroupId="g", MessageDeduplicationId="delivery-1"
    )

    assert again["MessageId"] == first["MessageId"]
    assert again["SequenceNumber"] == first["SequenceNumber"]
    assert len({r["MessageId"] for r in fresh}) == 50
    expected_order = [first["MessageId"]] + [r["MessageId"] for r in fresh]
    assert [m["MessageId"] for m in received] == expected_order
    assert _receive_all(sqs_client, fifo_queue) == []


def test_batch_duplicates_are_dropped(sqs_client, fifo_queue):
    entries = [
        {"Id": f"e{i}", "MessageBody": f"b{i}", "MessageGroupId": "g", "MessageDeduplicationId": f"d{i % 3}"}
        for i in range(6)
    ]
    result = sqs_client.send_message_batch(QueueUrl=fifo_queue, Entries=entries)
    ids = {r["Id"]: r["MessageId"] for r in result["Successful"]}

    assert result.get("Failed", []) == []
    assert [ids[f"e{i}"] for i in range(3)] == [ids[f"e{i + 3}"] for i in range(3)]
    assert [m["Body"] for m in _receive_all(sqs_client, fifo_queue)] == ["b0", "b1", "b2"]
