"""What the ``cdc-trickle`` scenario's sources write to the stage's source table. Pure: no Locust,
no boto3, so the CLI and the tests read it too.

Sources insert orders mostly, and update and delete orders they inserted earlier (the capture
must skip both). Each insert is an item of the cdc pattern's contract (``id``, ``customer``: the
ordering key) plus what the run measures with, which the trickle passes on to the partner in the
item's body: ``n`` (its place in its customer's write order), ``state`` (``new``; an update sets
``updated``) and ``inserted_at_ms`` (epoch ms at the write's start: the start of the lag).

The run learns what was written from the harness's acknowledgement ids: an insert's is its item
id, an update's ``update/<item id>``, a delete's ``delete/<item id>``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from handlers.cdc.contract import ITEM_ID_ATTRIBUTE, ORDERING_KEY_ATTRIBUTE

INSERT, UPDATE, DELETE = "insert", "update", "delete"
# Shares of the writes (the user's task weights): inserts mostly.
KIND_WEIGHTS = {INSERT: 80, UPDATE: 12, DELETE: 8}
REQUEST_PREFIX = "cdc "  # + kind: the request names the write latency is broken down by
DEFAULT_GROUPS = 10
STATE_NEW, STATE_UPDATED = "new", "updated"
POSITION_ATTRIBUTE = "n"
STATE_ATTRIBUTE = "state"
INSERTED_AT_ATTRIBUTE = "inserted_at_ms"
UPDATED_AT_ATTRIBUTE = "updated_at_ms"
ACK_SEPARATOR = "/"


def ack_id(kind: str, item_id: str) -> str:
    """What the harness keeps for an acknowledged write (an insert's is the item id alone)."""
    return item_id if kind == INSERT else f"{kind}{ACK_SEPARATOR}{item_id}"


@dataclass(frozen=True)
class RunWrites:
    """The acknowledged writes of a run, by kind (item ids)."""

    inserted: frozenset[str]
    updated: frozenset[str]
    deleted: frozenset[str]

    @classmethod
    def from_ack_ids(cls, ids: Iterable[str]) -> RunWrites:
        by_kind: dict[str, set[str]] = {INSERT: set(), UPDATE: set(), DELETE: set()}
        for value in ids:
            kind, separator, item_id = value.partition(ACK_SEPARATOR)
            if separator and kind in (UPDATE, DELETE):
                by_kind[kind].add(item_id)
            else:
                by_kind[INSERT].add(value)
        return cls(frozenset(by_kind[INSERT]), frozenset(by_kind[UPDATE]), frozenset(by_kind[DELETE]))


def group_names(run_id: str, groups: int) -> list[str]:
    return [f"{run_id}-c{index}" for index in range(groups)]


class SourceWrites:
    """One process's writes: item ids (``<run>-<node>-<serial>``), each customer's write order,
    and the items inserted and not deleted (what updates and deletes pick from)."""

    def __init__(self, rng: random.Random, run_id: str, node: int, groups: int) -> None:
        if groups < 1:
            raise ValueError(f"groups must be at least 1, got {groups}")
        self._rng, self.run_id, self._node = rng, run_id, node
        self.groups = group_names(run_id, groups)
        self._serial = 0
        self._positions: dict[str, int] = {}
        self._live: list[str] = []

    def new_insert(self) -> tuple[str, str]:
        """(item id, customer) of the next insert; its position is taken when it is written."""
        self._serial += 1
        return f"{self.run_id}-{self._node}-{self._serial:07d}", self._rng.choice(self.groups)

    def next_position(self, group: str) -> int:
        """The next place in ``group``'s write order: call it holding the group's lock, right
        before the write, so positions follow the order the writes reach the table."""
        position = self._positions.get(group, 0)
        self._positions[group] = position + 1
        return position

    def inserted(self, item_id: str) -> None:
        self._live.append(item_id)

    def pick_earlier(self, *, remove: bool) -> str | None:
        """An item inserted earlier (and not deleted), at random; None before the first insert.
        ``remove``: it is about to be deleted, never picked again."""
        if not self._live:
            return None
        index = self._rng.randrange(len(self._live))
        if not remove:
            return self._live[index]
        self._live[index], self._live[-1] = self._live[-1], self._live[index]
        return self._live.pop()


def insert_item(item_id: str, group: str, position: int, inserted_at_ms: int) -> dict[str, dict[str, str]]:
    """The item as DynamoDB's PutItem takes it."""
    return {
        ITEM_ID_ATTRIBUTE: {"S": item_id},
        ORDERING_KEY_ATTRIBUTE: {"S": group},
        POSITION_ATTRIBUTE: {"N": str(position)},
        STATE_ATTRIBUTE: {"S": STATE_NEW},
        INSERTED_AT_ATTRIBUTE: {"N": str(inserted_at_ms)},
    }
