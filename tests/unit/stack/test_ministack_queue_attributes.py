"""``sqs-queue-attribute-rules``: queue attributes read and refused as SQS does."""

from __future__ import annotations

import pytest
from ministack.services import sqs

from stack.embedded.ministack.patches import PINNED_MINISTACK_VERSION, apply_queue_attributes_patch
from tests.unit.stack.ministack_sqs_driver import SqsDriver, restored_sqs


@pytest.fixture
def driver(monkeypatch):
    yield from restored_sqs(monkeypatch)


def _attributes(d: SqsDriver, url: str) -> dict:
    return d.call("GetQueueAttributes", QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_unpatched_ministack_differs(driver):
    url = driver.fifo(ContentBasedDeduplication="True")
    assert _attributes(driver, url)["ContentBasedDeduplication"] == "True"
    assert "DeduplicationScope" not in _attributes(driver, url)
    driver.queue("no-attribute.fifo")  # accepted as a FIFO queue


def test_booleans_in_any_case_and_fifo_defaults(driver):
    assert apply_queue_attributes_patch(sqs, PINNED_MINISTACK_VERSION).applied
    url = driver.queue("q.fifo", FifoQueue="TRUE", ContentBasedDeduplication="True")
    attributes = _attributes(driver, url)
    assert attributes["FifoQueue"] == "true" and attributes["ContentBasedDeduplication"] == "true"
    assert attributes["DeduplicationScope"] == "queue" and attributes["FifoThroughputLimit"] == "perQueue"
    driver.send(url, "x", "g")  # content-based dedup is on
    assert (
        driver.error("CreateQueue", QueueName="b.fifo", Attributes={"FifoQueue": "yes"}).code == "InvalidAttributeValue"
    )


@pytest.mark.parametrize(
    "name, attributes, code",
    [
        ("plain.fifo", {}, "InvalidParameterValue"),
        ("plain.fifo", {"FifoQueue": "false"}, "InvalidParameterValue"),
        ("standard", {"ContentBasedDeduplication": "true"}, "InvalidAttributeName"),
        ("standard", {"DeduplicationScope": "queue"}, "InvalidAttributeName"),
        ("q.fifo", {"FifoQueue": "true", "DeduplicationScope": "everywhere"}, "InvalidAttributeValue"),
    ],
)
def test_create_refusals(driver, name, attributes, code):
    assert apply_queue_attributes_patch(sqs, PINNED_MINISTACK_VERSION).applied
    assert driver.error("CreateQueue", QueueName=name, Attributes=attributes).code == code
    assert sqs._queues.get(sqs._queue_url(name)) is None


def test_fifo_queue_type_is_fixed(driver):
    assert apply_queue_attributes_patch(sqs, PINNED_MINISTACK_VERSION).applied
    standard = driver.queue("standard", FifoQueue="false")
    assert "FifoQueue" not in _attributes(driver, standard)
    error = driver.error("SetQueueAttributes", QueueUrl=standard, Attributes={"FifoQueue": "true"})
    assert error.code == "InvalidAttributeName"
    fifo = driver.fifo()
    driver.call("SetQueueAttributes", QueueUrl=fifo, Attributes={"FifoQueue": "true"})
    error = driver.error("SetQueueAttributes", QueueUrl=fifo, Attributes={"FifoQueue": "false"})
    assert error.code == "InvalidAttributeValue"
    assert _attributes(driver, fifo)["FifoQueue"] == "true" and sqs._queues[fifo]["is_fifo"]
    driver.call("SetQueueAttributes", QueueUrl=fifo, Attributes={"ContentBasedDeduplication": "False"})
    assert _attributes(driver, fifo)["ContentBasedDeduplication"] == "false"


def test_guard(driver):
    assert not apply_queue_attributes_patch(sqs, "1.5.34").applied
    assert apply_queue_attributes_patch(sqs, PINNED_MINISTACK_VERSION).applied
    assert apply_queue_attributes_patch(sqs, PINNED_MINISTACK_VERSION).detail == "already in place"
