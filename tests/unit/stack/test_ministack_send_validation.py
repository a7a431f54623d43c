"""``sqs-fifo-send-validation``: FIFO id formats, and batches missing an id refused whole."""

from __future__ import annotations

import pytest
from ministack.services import sqs

from stack.embedded.ministack.patches import PINNED_MINISTACK_VERSION, apply_send_validation_patch
from tests.unit.stack.ministack_sqs_driver import restored_sqs

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


@pytest.fixture
def driver(monkeypatch):
    yield from restored_sqs(monkeypatch)


@pytest.mark.parametrize(
    "field, value", [("MessageGroupId", "has space"), ("MessageGroupId", "g" * 129), ("MessageDeduplicationId", "é")]
)
def test_malformed_ids_are_refused(driver, field, value):
    url = driver.fifo()
    params = {"QueueUrl": url, "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d", field: value}
    driver.call("SendMessage", **params)  # unpatched: accepted
    assert apply_send_validation_patch(sqs, PINNED_MINISTACK_VERSION).applied
    error = driver.error("SendMessage", **params)
    assert error.code == "InvalidParameterValue" and field in error.message


def test_every_allowed_character_passes(driver):
    assert apply_send_validation_patch(sqs, PINNED_MINISTACK_VERSION).applied
    url = driver.fifo()
    driver.send(url, "x", "aZ09" + PUNCTUATION, "d" * 128)
    assert len(sqs._queues[url]["messages"]) == 1


@pytest.mark.parametrize(
    "missing, code", [("MessageGroupId", "MissingParameter"), ("MessageDeduplicationId", "InvalidParameterValue")]
)
def test_a_batch_missing_an_id_is_refused_whole(driver, missing, code):
    url = driver.fifo()
    entries = [
        {"Id": "a", "MessageBody": "a", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
        {"Id": "b", "MessageBody": "b", "MessageGroupId": "g", "MessageDeduplicationId": "d2"},
    ]
    del entries[1][missing]
    assert len(driver.call("SendMessageBatch", QueueUrl=url, Entries=entries)["Failed"]) == 1  # unpatched
    sqs.reset()
    url = driver.fifo()
    assert apply_send_validation_patch(sqs, PINNED_MINISTACK_VERSION).applied
    assert driver.error("SendMessageBatch", QueueUrl=url, Entries=entries).code == code
    assert sqs._queues[url]["messages"] == []


def test_a_malformed_id_in_a_batch_fails_its_entry_only(driver):
    assert apply_send_validation_patch(sqs, PINNED_MINISTACK_VERSION).applied
    url = driver.fifo(ContentBasedDeduplication="true")
    result = driver.call(
        "SendMessageBatch",
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "a", "MessageGroupId": "g"},
            {"Id": "b", "MessageBody": "b", "MessageGroupId": "bad id"},
        ],
    )
    assert [e["Id"] for e in result["Successful"]] == ["a"]
    assert [(e["Id"], e["Code"]) for e in result["Failed"]] == [("b", "InvalidParameterValue")]


def test_standard_queues_are_left_alone(driver):
    assert apply_send_validation_patch(sqs, PINNED_MINISTACK_VERSION).applied
    url = driver.queue("standard")
    driver.call("SendMessageBatch", QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "a"}])
    driver.send(url, "x", "any group id")


def test_guard(driver):
    assert not apply_send_validation_patch(sqs, "1.5.34").applied
    assert apply_send_validation_patch(sqs, PINNED_MINISTACK_VERSION).applied
    assert apply_send_validation_patch(sqs, PINNED_MINISTACK_VERSION).detail == "already in place"
