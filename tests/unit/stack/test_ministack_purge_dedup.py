"""``sqs-purge-clears-dedup``: after PurgeQueue a dedup id seen before is accepted again."""

from __future__ import annotations

import pytest
from ministack.services import sqs

from stack.embedded.ministack.patches import (
    PINNED_MINISTACK_VERSION,
    ExpiryIndexedDedupCache,
    apply_dedup_prune_patch,
    apply_purge_dedup_patch,
)
from tests.unit.stack.ministack_sqs_driver import SqsDriver, restored_sqs


@pytest.fixture
def driver(monkeypatch):
    yield from restored_sqs(monkeypatch)


def resend_after_purge(d: SqsDriver) -> list[str]:
    url = d.fifo()
    d.send(url, "before", "g1", "same")
    d.call("PurgeQueue", QueueUrl=url)
    d.send(url, "after", "g1", "same")
    return d.bodies(url)


def test_unpatched_purge_keeps_the_cache(driver):
    assert resend_after_purge(driver) == []


@pytest.mark.parametrize("indexed_cache", [False, True])
def test_purge_clears_the_cache(driver, indexed_cache):
    if indexed_cache:
        assert apply_dedup_prune_patch(sqs, PINNED_MINISTACK_VERSION).applied
    assert apply_purge_dedup_patch(sqs, PINNED_MINISTACK_VERSION).applied
    assert resend_after_purge(driver) == ["after"]
    cache = sqs._queues[driver.fifo()]["dedup_cache"]
    assert len(cache) == 1
    if indexed_cache:
        assert type(cache) is ExpiryIndexedDedupCache and len(cache._expiry_heap) == 1


def test_guard(driver):
    assert not apply_purge_dedup_patch(sqs, "1.5.32").applied
    assert apply_purge_dedup_patch(sqs, PINNED_MINISTACK_VERSION).applied
    assert apply_purge_dedup_patch(sqs, PINNED_MINISTACK_VERSION).detail == "already in place"
