"""Reading a stage's events table: status items as plain values, and waiting until events end.

The one reader of the stack's own status items (``handlers.stores.status_store``) for the tools
that follow events to their end: the demo burst, the load test's drain, the chaos drills. The
table holds other items too (idempotency records): readers pick status items by event id.

Two ways to read, both bounded:

- by id (:func:`read_status_items`): BatchGetItem, 100 keys a request, for the few thousand ids
  of a burst or a drill;
- a scan (:func:`scan_status_items`): paginated, at most ``max_items``, for the tens of thousands
  of ids of a load run, where one scan costs less than hundreds of batch reads.

:func:`wait_until_terminal` polls either until every awaited event is PROCESSED or DEAD_LETTERED
(or until the caller's own condition holds), for at most ``timeout_s``. Reads are spaced by at
least ``min_interval_s`` and by twice the last read's duration, so reading never takes more than
a third of the stage's time while it drains. The clock and the sleep are injected for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handlers.stores.status_store import TERMINAL_STATUSES
from stack.errors import HookstackError

BATCH_KEYS = 100  # BatchGetItem's limit per request
UNPROCESSED_RETRIES = 8
MAX_SCAN_ITEMS = 5_000_000
# What the readers use of a status item; a scan projects to these.
SCAN_FIELDS = ("id", "status", "received_at", "processing_at", "processed_at", "dead_lettered_at")

Item = dict[str, Any]
Reader = Callable[[Sequence[str]], Iterable[Item]]


class EventsReadError(HookstackError):
    """The events table could not be read completely within the bounds."""


def plain_value(value: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as a plain Python value: numbers as int (or float), not text."""
    if "S" in value:
        return value["S"]
    if "N" in value:
        number = float(value["N"])
        return int(number) if number.is_integer() else number
    if "NULL" in value:
        return None
    return next(iter(value.values()))


def plain_item(item: Mapping[str, Mapping[str, Any]]) -> Item:
    return {name: plain_value(value) for name, value in item.items()}


def is_terminal(item: Mapping[str, Any] | None) -> bool:
    return item is not None and item.get("status") in TERMINAL_STATUSES


def read_status_items(
    dynamodb: Any, table: str, event_ids: Iterable[str], *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Item]:
    """``{event id: status item}`` for those of ``event_ids`` the table holds, 100 keys a request.
    Keys DynamoDB leaves unprocessed are retried with a backoff, a bounded number of times."""
    ids = list(dict.fromkeys(event_ids))
    items: dict[str, Item] = {}
    for start in range(0, len(ids), BATCH_KEYS):
        keys = [{"id": {"S": event_id}} for event_id in ids[start : start + BATCH_KEYS]]
        request: dict[str, Any] = {table: {"Keys": keys}}
        for attempt in range(UNPROCESSED_RETRIES + 1):
            page = dynamodb.batch_get_item(RequestItems=request)
            for raw in page["Responses"].get(table, []):
                item = plain_item(raw)
                items[str(item["id"])] = item
            request = page.get("UnprocessedKeys") or {}
            if not request:
                break
            if attempt < UNPROCESSED_RETRIES:
                sleep(min(1.0, 0.05 * 2**attempt))
        else:
            left = len(request.get(table, {}).get("Keys", []))
            raise EventsReadError(f"{table}: {left} keys still unprocessed after {UNPROCESSED_RETRIES} retries")
    return items


def scan_status_items(
    dynamodb: Any, table: str, *, fields: Sequence[str] = SCAN_FIELDS, max_items: int = MAX_SCAN_ITEMS
) -> Iterator[Item]:
    """Every item of the table, projected to ``fields``, as plain values, page by page.

    Raises :class:`EventsReadError` past ``max_items`` items: a table that large is no longer read
    by scanning, and a partial read would count the unread events as missing."""
    names = {f"#f{index}": name for index, name in enumerate(fields)}
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
    )
    count = 0
    for page in pages:
        for raw in page.get("Items", []):
            count += 1
            if count > max_items:
                raise EventsReadError(f"{table} holds more than {max_items} items: too many to scan")
            yield plain_item(raw)


@dataclass
class Progress:
    """Where a wait stands after a read."""

    items: dict[str, Item]  # awaited id → its status item, for those found so far
    pending: list[str]  # awaited ids not terminal yet: no item, or an item still on its way
    total: int
    reads: int = 0
    waited_s: float = 0.0
    timed_out: bool = False

    @property
    def terminal(self) -> int:
        return self.total - len(self.pending)


def wait_until_terminal(
    read: Reader,
    event_ids: Iterable[str],
    *,
    timeout_s: float,
    min_interval_s: float = 0.5,
    until: Callable[[Progress], bool] | None = None,
    on_poll: Callable[[Progress], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Progress:
    """Read until every id of ``event_ids`` is terminal (or ``until`` holds), or ``timeout_s`` passes.

    ``read`` gets the ids still pending (a reader by key needs no others; a scan may ignore them)
    and returns status items, of any ids: those of other events are ignored. A status never
    regresses, so what an earlier read found stands until a later one finds more. The last read
    happens at the timeout; ``timed_out`` tells whether the wait ended there.
    """
    ids = list(dict.fromkeys(event_ids))
    awaited = set(ids)
    done = until or (lambda progress: not progress.pending)
    progress = Progress(items={}, pending=ids, total=len(ids))
    start = clock()
    while True:
        began = clock()
        for item in read(progress.pending):
            event_id = item.get("id")
            if event_id in awaited:
                progress.items[str(event_id)] = item
        took = clock() - began
        progress.reads += 1
        progress.pending = [i for i in ids if not is_terminal(progress.items.get(i))]
        progress.waited_s = clock() - start
        if on_poll is not None:
            on_poll(progress)
        if done(progress):
            return progress
        remaining = timeout_s - (clock() - start)
        if remaining <= 0:
            progress.timed_out = True
            return progress
        sleep(min(remaining, max(min_interval_s, 2 * took)))
