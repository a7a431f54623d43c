"""``sqs-fifo-receive-per-group``: FIFO receives as SQS answers them, on MiniStack's own actions.

Each scenario is one of LocalStack's AWS-validated FIFO tests; the expected orders are AWS's.
The same scenarios run unpatched must differ (so these tests can fail).
"""

from __future__ import annotations

import time
import types

import pytest
from ministack.services import sqs

from stack.embedded.ministack.patches import (
    FIFO_RECEIVE_PATCH,
    PINNED_MINISTACK_VERSION,
    apply_fifo_receive_patch,
)
from tests.unit.stack.ministack_sqs_driver import SqsDriver, restored_sqs


@pytest.fixture
def driver(monkeypatch):
    yield from restored_sqs(monkeypatch)


def _patch() -> None:
    assert apply_fifo_receive_patch(sqs, PINNED_MINISTACK_VERSION).applied


def _send_groups(d: SqsDriver, url: str, bodies: list[str]) -> None:
    for body in bodies:
        d.send(url, body, body.split("-")[0])


def groups_together(d: SqsDriver) -> list[str]:
    url = d.fifo(ContentBasedDeduplication="true")
    _send_groups(d, url, ["g1-m1", "g2-m1", "g1-m2", "g1-m3"])
    return d.bodies(url)


def reset_one_visibility(d: SqsDriver) -> list[str]:
    url = d.fifo(ContentBasedDeduplication="true")
    _send_groups(d, url, ["g1-m1", "g1-m2", "g2-m1"])
    first = d.receive(url, 2)
    assert [m["Body"] for m in first] == ["g1-m1", "g1-m2"]
    d.call("ChangeMessageVisibility", QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0)
    return d.bodies(url, 3)


def zero_visibility(d: SqsDriver) -> tuple[list[str], list[str]]:
    url = d.fifo(ContentBasedDeduplication="true")
    _send_groups(d, url, ["g1-m1", "g2-m1", "g2-m2", "g3-m1", "g1-m2"])
    first = d.bodies(url, 3, visibility=0)
    time.sleep(0.01)  # the receive's clock reading must be later than the sends'
    return first, d.bodies(url, 10, visibility=0)


def after_delete(d: SqsDriver, delete_both: bool) -> list[str]:
    url = d.fifo(ContentBasedDeduplication="true")
    _send_groups(d, url, ["g1-m1", "g2-m1", "g1-m2", "g2-m2", "g1-m3", "g1-m4", "g3-m1"])
    first = d.receive(url, 2)
    for message in first if delete_both else first[:1]:
        d.call("DeleteMessage", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return d.bodies(url)


def test_a_receive_returns_whole_groups(driver):
    assert groups_together(driver) == ["g1-m1", "g2-m1", "g1-m2", "g1-m3"]  # MiniStack: send order
    driver.call("DeleteQueue", QueueUrl=driver.fifo())
    sqs.reset()
    _patch()
    assert groups_together(driver) == ["g1-m1", "g1-m2", "g1-m3", "g2-m1"]


def test_a_message_whose_visibility_was_reset_comes_back_before_its_group_is_done(driver):
    assert reset_one_visibility(driver) == ["g2-m1"]  # MiniStack hides the whole group
    sqs.reset()
    _patch()
    assert reset_one_visibility(driver) == ["g2-m1", "g1-m1"]


def test_zero_visibility_receives_return_groups_in_the_order_they_became_receivable(driver):
    _patch()
    first, second = zero_visibility(driver)
    assert first == ["g1-m1", "g1-m2", "g2-m1"]
    assert second == ["g3-m1", "g1-m1", "g1-m2", "g2-m1", "g2-m2"]


def test_a_group_waits_behind_its_in_flight_message_and_returns_after_delete(driver):
    _patch()
    assert after_delete(driver, delete_both=False) == ["g2-m1", "g2-m2", "g3-m1"]
    sqs.reset()
    assert after_delete(driver, delete_both=True) == ["g2-m1", "g2-m2", "g1-m3", "g1-m4", "g3-m1"]


def test_receipt_handles_counts_and_delays_are_kept(driver):
    _patch()
    url = driver.fifo(ContentBasedDeduplication="true", DelaySeconds="60")
    driver.send(url, "g1-m1", "g1")
    assert driver.receive(url) == []  # delayed
    url = driver.fifo("r.fifo", ContentBasedDeduplication="true")
    driver.send(url, "g1-m1", "g1")
    [first] = driver.receive(url, visibility=0)
    [second] = driver.receive(url, visibility=0)
    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    message = sqs._queues[url]["messages"][0]
    assert message["receive_count"] == 2 and message["first_receive_at"] is not None


def _module_like_sqs(collect_fifo) -> types.ModuleType:
    fake = types.ModuleType("fake_sqs")
    fake._collect_fifo = collect_fifo
    fake._collect_msgs = sqs._collect_msgs
    fake._ensure_msg_fields = sqs._ensure_msg_fields
    fake.new_uuid = sqs.new_uuid
    return fake


def test_guard_refuses_other_sources_and_releases_and_applies_once(driver):
    changed = _module_like_sqs(lambda q, max_n, vis, now: [])
    outcome = apply_fifo_receive_patch(changed, PINNED_MINISTACK_VERSION)
    assert not outcome.applied and "_collect_fifo is not the source" in outcome.detail
    own = _module_like_sqs(sqs._collect_fifo)  # the fixture put MiniStack's own back
    assert not apply_fifo_receive_patch(own, "1.5.34").applied
    assert apply_fifo_receive_patch(own, PINNED_MINISTACK_VERSION).applied
    assert apply_fifo_receive_patch(own, PINNED_MINISTACK_VERSION).detail == "already in place"
    assert own._collect_fifo.hookstack_patch == FIFO_RECEIVE_PATCH
