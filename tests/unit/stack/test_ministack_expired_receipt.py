"""``sqs-fifo-expired-receipt-handle``: a FIFO delete with a handle past its visibility timeout fails."""

from __future__ import annotations

import time

import pytest
from ministack.services import sqs

from stack.embedded.ministack.patches import (
    PINNED_MINISTACK_VERSION,
    apply_delete_batch_patch,
    apply_expired_receipt_patch,
)
from tests.unit.stack.ministack_sqs_driver import restored_sqs


@pytest.fixture
def driver(monkeypatch):
    yield from restored_sqs(monkeypatch)


def _expire(url: str) -> None:
    for m in sqs._queues[url]["messages"]:
        m["visible_at"] = time.time() - 1  # the visibility timeout ran out


def test_unpatched_ministack_deletes_with_an_expired_handle(driver):
    url = driver.fifo(ContentBasedDeduplication="true")
    driver.send(url, "m", "g1")
    [message] = driver.receive(url)
    _expire(url)
    driver.call("DeleteMessage", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert sqs._queues[url]["messages"] == []


@pytest.mark.parametrize("one_pass_first", [False, True])
def test_expired_handles_fail_live_ones_delete(driver, one_pass_first):
    if one_pass_first:
        assert apply_delete_batch_patch(sqs, PINNED_MINISTACK_VERSION).applied
    assert apply_expired_receipt_patch(sqs, PINNED_MINISTACK_VERSION).applied
    url = driver.fifo(ContentBasedDeduplication="true")
    driver.send(url, "a", "g1")
    driver.send(url, "b", "g2")
    driver.send(url, "c", "g3")
    received = driver.receive(url)
    a, b, c = (m["ReceiptHandle"] for m in received)
    sqs._queues[url]["messages"][0]["visible_at"] = time.time() - 1  # a's timeout ran out
    error = driver.error("DeleteMessage", QueueUrl=url, ReceiptHandle=a)
    assert error.code == "InvalidParameterValue" and "The receipt handle has expired" in error.message
    result = driver.call(
        "DeleteMessageBatch",
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": a},
            {"Id": "b", "ReceiptHandle": b},
            {"Id": "x", "ReceiptHandle": "nope"},
        ],
    )
    assert [e["Id"] for e in result["Successful"]] == ["b"]
    assert {e["Id"]: e["Code"] for e in result["Failed"]} == {
        "a": "InvalidParameterValue",
        "x": "ReceiptHandleIsInvalid",
    }
    driver.call("DeleteMessage", QueueUrl=url, ReceiptHandle=c)  # in flight: deleted as before
    assert [m["body"] for m in sqs._queues[url]["messages"]] == ["a"]  # redelivered, as on AWS


def test_standard_queues_keep_accepting_old_handles(driver):
    assert apply_expired_receipt_patch(sqs, PINNED_MINISTACK_VERSION).applied
    url = driver.queue("standard")
    driver.send(url, "m")
    [message] = driver.receive(url)
    _expire(url)
    driver.call("DeleteMessage", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_guard_refuses_another_release_and_a_changed_handler(driver):
    assert not apply_expired_receipt_patch(sqs, "1.5.34").applied
    sqs._HANDLERS["DeleteMessage"] = lambda data, qurl: {}
    outcome = apply_expired_receipt_patch(sqs, PINNED_MINISTACK_VERSION)
    assert not outcome.applied and "no longer dispatches DeleteMessage" in outcome.detail
