"""The one events-table reader: status items by id and by scan, as plain values, and the bounded
wait until events end (what the demo, the load test's drain and the chaos drills share)."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.stores.status_store import TERMINAL_STATUSES, Status
from stack.clients import events
from stack.clients.events import EventsReadError, Progress, read_status_items, scan_status_items, wait_until_terminal
from tests.helpers.fake_time import FakeTime

TABLE = "hookstack-dev-events"


def raw(event_id: str, status: str, **numbers: int) -> dict[str, Any]:
    return {"id": {"S": event_id}, "status": {"S": status}, **{k: {"N": str(v)} for k, v in numbers.items()}}


class FakeDynamoDB:
    """BatchGetItem over a dict of raw items, leaving the first ``unprocessed`` requests' keys unread."""

    def __init__(self, items: dict[str, dict[str, Any]], unprocessed: int = 0) -> None:
        self.items = items
        self.unprocessed = unprocessed
        self.requests: list[list[str]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        keys = [key["id"]["S"] for key in RequestItems[TABLE]["Keys"]]
        self.requests.append(keys)
        if self.unprocessed:
            self.unprocessed -= 1
            return {"Responses": {TABLE: []}, "UnprocessedKeys": RequestItems}
        return {"Responses": {TABLE: [self.items[k] for k in keys if k in self.items]}, "UnprocessedKeys": {}}


def test_terminal_statuses_are_defined_beside_the_enum():
    assert TERMINAL_STATUSES == (Status.PROCESSED, Status.DEAD_LETTERED)
    assert events.is_terminal({"status": "PROCESSED"}) and events.is_terminal({"status": "DEAD_LETTERED"})
    assert not events.is_terminal({"status": "REPLAYED"}) and not events.is_terminal(None)
    assert not events.is_terminal({"id": "idempotency#x"})  # the table's other items have no status


def test_reads_by_id_in_batches_of_100_as_plain_values():
    items = {f"evt_{n}": raw(f"evt_{n}", "PROCESSED", received_at=1000, processed_at=1250 + n) for n in range(250)}
    dynamodb = FakeDynamoDB(items)
    found = read_status_items(dynamodb, TABLE, [*items, "evt_unknown", "evt_0"])
    assert [len(r) for r in dynamodb.requests] == [100, 100, 51]  # duplicates asked once
    assert len(found) == 250 and "evt_unknown" not in found
    assert found["evt_7"] == {"id": "evt_7", "status": "PROCESSED", "received_at": 1000, "processed_at": 1257}


def test_unprocessed_keys_are_retried_a_bounded_number_of_times():
    items = {"evt_a": raw("evt_a", "RECEIVED")}
    sleeps: list[float] = []
    assert read_status_items(FakeDynamoDB(items, unprocessed=2), TABLE, ["evt_a"], sleep=sleeps.append) == {
        "evt_a": {"id": "evt_a", "status": "RECEIVED"}
    }
    assert sleeps == [0.05, 0.1]
    with pytest.raises(EventsReadError, match="1 keys still unprocessed"):
        read_status_items(FakeDynamoDB(items, unprocessed=99), TABLE, ["evt_a"], sleep=lambda _: None)


class FakeScan:
    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.kwargs: dict[str, Any] = {}

    def get_paginator(self, name: str) -> FakeScan:
        assert name == "scan"
        return self

    def paginate(self, **kwargs: Any):
        self.kwargs = kwargs
        return iter([{"Items": page} for page in self.pages])


def test_a_scan_reads_every_page_projected_and_is_bounded():
    scan = FakeScan([[raw("evt_a", "PROCESSED", processed_at=5)], [{"id": {"S": "idempotency#x"}}]])
    assert list(scan_status_items(scan, TABLE)) == [
        {"id": "evt_a", "status": "PROCESSED", "processed_at": 5},
        {"id": "idempotency#x"},
    ]
    names = scan.kwargs["ExpressionAttributeNames"]
    assert sorted(names.values()) == sorted(events.SCAN_FIELDS)  # "status" is a reserved word
    assert scan.kwargs["ProjectionExpression"] == ", ".join(names)
    with pytest.raises(EventsReadError, match="more than 1 items"):
        list(scan_status_items(scan, TABLE, max_items=1))


def test_the_wait_reads_only_what_is_pending_and_keeps_what_it_found():
    fake = FakeTime()
    table = {"evt_a": {"id": "evt_a", "status": "PROCESSED"}, "evt_b": {"id": "evt_b", "status": "RECEIVED"}}
    asked: list[list[str]] = []

    def read(pending):
        asked.append(list(pending))
        if len(asked) == 2:
            table["evt_b"] = {"id": "evt_b", "status": "DEAD_LETTERED"}
        return [table[i] for i in pending if i in table]

    polls: list[tuple[int, int]] = []
    progress = wait_until_terminal(
        read,
        ["evt_a", "evt_b", "evt_a"],
        timeout_s=10,
        on_poll=lambda p: polls.append((p.terminal, p.total)),
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert asked == [["evt_a", "evt_b"], ["evt_b"]]
    assert polls == [(1, 2), (2, 2)] and progress.reads == 2 and not progress.timed_out
    assert progress.items["evt_a"]["status"] == "PROCESSED" and progress.pending == []
    assert fake.sleeps == [0.5]


def test_the_wait_ends_at_the_timeout_after_a_last_read():
    fake = FakeTime()
    progress = wait_until_terminal(
        lambda pending: [{"id": "evt_a", "status": "PROCESSING"}, {"id": "other", "status": "PROCESSED"}],
        ["evt_a", "evt_b"],
        timeout_s=3,
        min_interval_s=1,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert progress.timed_out and progress.reads == 4 and fake.now == 3
    assert progress.pending == ["evt_a", "evt_b"] and set(progress.items) == {"evt_a"}  # others ignored


def test_a_caller_may_end_the_wait_on_its_own_condition():
    fake = FakeTime()
    seen: list[Progress] = []

    def until(progress: Progress) -> bool:
        seen.append(progress)
        return len(seen) == 3

    progress = wait_until_terminal(
        lambda pending: [], ["evt_a"], timeout_s=60, until=until, clock=fake.clock, sleep=fake.sleep
    )
    assert not progress.timed_out and progress.reads == 3 and progress.pending == ["evt_a"]
    nothing = wait_until_terminal(lambda pending: [], [], timeout_s=0, clock=fake.clock, sleep=fake.sleep)
    assert nothing.total == 0 and not nothing.timed_out and nothing.reads == 1
