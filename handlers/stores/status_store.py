"""Status items in the events table: RECEIVED → [PROCESSING] → PROCESSED | DEAD_LETTERED, and
REPLAYED when re-injected. Timestamps in epoch ms.

Status never regresses. Every item carries ``stage`` = generation × 100 + rank, where the
generation is the number of replays; each transition is conditional on the stored stage being
lower (PROCESSING may repeat: one per attempt). A late RECEIVED (the producer writes after the
worker already started) therefore changes nothing, and a replayed event starts a new generation.

The status item is also the event's "applied" marker: the worker sets PROCESSED in the same
transaction as the business write, together with ``applied_at`` and ``applied_to`` (the business
item), conditional on ``applied_at`` being absent, so an event is applied at most once across
attempts, deliveries and replays, for as long as its status item lives. PROCESSING is written only
when an attempt fails (the happy path writes the status once).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.contract.message import DeadLetterKind
from handlers.contract.settings import STATUS_RETENTION_SECONDS
from handlers.platform.dynamodb_update import (
    UpdateBuilder,
    deserialize_item,
    is_conditional_check_failure,
    serialize,
    transaction_update,
)


class Status(enum.StrEnum):
    RECEIVED = "RECEIVED"
    PROCESSING = "PROCESSING"
    PROCESSED = "PROCESSED"
    DEAD_LETTERED = "DEAD_LETTERED"
    REPLAYED = "REPLAYED"


# An event's end: nothing follows either in its generation (only a replay starts a new one).
TERMINAL_STATUSES: tuple[Status, ...] = (Status.PROCESSED, Status.DEAD_LETTERED)

_RANK = {Status.REPLAYED: 5, Status.RECEIVED: 10, Status.PROCESSING: 20, Status.PROCESSED: 30, Status.DEAD_LETTERED: 30}
GENERATION_SPAN = 100
MAX_REASON_LENGTH = 1000

TIMESTAMP_ATTRIBUTES = ("received_at", "processing_at", "processed_at", "dead_lettered_at", "replayed_at")
# Set only by the transaction that wrote the business item: the event's "applied" marker.
APPLIED_AT = "applied_at"
APPLIED_TO = "applied_to"


def stage(status: Status, generation: int = 0) -> int:
    return generation * GENERATION_SPAN + _RANK[status]


def stage_of(item: Mapping[str, Any]) -> int:
    """The stored stage of a status item (0 when it has none)."""
    try:
        return int(item.get("stage", 0) or 0)
    except (TypeError, ValueError):
        return 0


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Attempt:
    """One try at an event: when it started and the SQS receive count it came with."""

    started_ms: int
    receive_count: int

    def sets(self) -> dict[str, Any]:
        return {"processing_at": self.started_ms, "attempts": self.receive_count}


@dataclass(frozen=True)
class EventMeta:
    """What every status write knows about the event (set on the item if it does not exist yet)."""

    event_id: str
    tenant: str
    provider: str
    topic: str
    delivery_id: str
    group: str
    received_at: int | None = None

    def descriptive(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "tenant": self.tenant,
            "provider": self.provider,
            "topic": self.topic,
            "delivery_id": self.delivery_id,
            "group": self.group,
        }
        if self.received_at is not None:
            values["received_at"] = self.received_at
        return values


class StatusStore:
    def __init__(self, client: Any, table: str, *, retention_seconds: int = STATUS_RETENTION_SECONDS):
        self._client = client
        self._table = table
        self._retention = retention_seconds

    def _expiration(self, at_ms: int) -> int:
        return at_ms // 1000 + self._retention

    def _update(self, event_id: str, update: UpdateBuilder) -> bool:
        try:
            self._client.update_item(TableName=self._table, Key={"id": serialize(event_id)}, **update.kwargs())
        except Exception as error:
            if is_conditional_check_failure(error):
                return False
            raise
        return True

    def _transition_update(
        self,
        meta: EventMeta,
        status: Status,
        generation: int,
        at_ms: int,
        *,
        sets: Mapping[str, Any],
        allow_repeat: bool = False,
        adds: Mapping[str, Any] | None = None,
        removes: tuple[str, ...] = (),
    ) -> UpdateBuilder:
        # The replay number travels with the message: the worker records it too, because it may
        # finish a replayed event before the replay tool's own REPLAYED write lands.
        replay = {"replay_count": generation} if generation else {}
        update = UpdateBuilder(
            sets={
                "status": status.value,
                "stage": stage(status, generation),
                "expiration": self._expiration(at_ms),
                **replay,
                **sets,
            },
            sets_if_absent=meta.descriptive(),
            adds=dict(adds or {}),
            removes=list(removes),
        )
        comparison = "<=" if allow_repeat else "<"
        update.condition = (
            f"(attribute_not_exists({update.name('stage')}) OR "
            f"{update.name('stage')} {comparison} {update.value('new_stage', stage(status, generation))})"
        )
        return update

    def _transition(self, meta: EventMeta, status: Status, generation: int, at_ms: int, **options: Any) -> bool:
        return self._update(meta.event_id, self._transition_update(meta, status, generation, at_ms, **options))

    def record_received(self, meta: EventMeta, at_ms: int) -> None:
        """One unconditional write: creates the item or, for a provider retry, only counts the
        delivery; ``if_not_exists`` keeps any later status already recorded by the worker."""
        update = UpdateBuilder(
            sets={"expiration": self._expiration(at_ms)},
            sets_if_absent={
                "status": Status.RECEIVED.value,
                "stage": stage(Status.RECEIVED),
                **meta.descriptive(),
                "received_at": at_ms,
            },
            adds={"deliveries": 1},
        )
        self._update(meta.event_id, update)

    def mark_processing(self, meta: EventMeta, generation: int, at_ms: int, *, receive_count: int = 1) -> bool:
        """An attempt that did not finish the event (the worker writes it when an attempt fails)."""
        return self._transition(
            meta,
            Status.PROCESSING,
            generation,
            at_ms,
            sets=Attempt(at_ms, receive_count).sets(),
            allow_repeat=True,
        )

    def mark_processed(self, meta: EventMeta, generation: int, at_ms: int, *, attempt: Attempt | None = None) -> bool:
        """PROCESSED without a business write of its own: the event was applied in an earlier
        generation (or, in a drill's sabotage, the write was skipped)."""
        return self._transition(
            meta,
            Status.PROCESSED,
            generation,
            at_ms,
            sets={"processed_at": at_ms, **(attempt.sets() if attempt else {})},
            removes=("reason", "dead_letter_kind"),
        )

    def applied_request(
        self, meta: EventMeta, generation: int, at_ms: int, *, attempt: Attempt, applied_to: str
    ) -> dict[str, Any]:
        """The status half of the worker's one transaction: PROCESSED and the applied marker,
        conditional on the event never having been applied and its status being below PROCESSED in
        this generation. On failure the stored item comes back in the cancellation reason."""
        update = self._transition_update(
            meta,
            Status.PROCESSED,
            generation,
            at_ms,
            sets={"processed_at": at_ms, **attempt.sets(), APPLIED_AT: at_ms, APPLIED_TO: applied_to},
            removes=("reason", "dead_letter_kind"),
        )
        update.condition = f"attribute_not_exists({update.name(APPLIED_AT)}) AND {update.condition}"
        return transaction_update(self._table, meta.event_id, update, old_item_on_failure=True)

    def record_duplicate(self, meta: EventMeta, attempt: Attempt) -> bool:
        """An attempt that found its event already applied and finished: counted, status unchanged."""
        update = UpdateBuilder(sets=attempt.sets(), adds={"duplicates": 1})
        update.condition = f"attribute_exists({update.name(APPLIED_AT)})"
        return self._update(meta.event_id, update)

    def mark_dead_lettered(
        self,
        meta: EventMeta,
        generation: int,
        at_ms: int,
        *,
        reason: str,
        kind: DeadLetterKind,
        attempt: Attempt | None = None,
    ) -> bool:
        return self._transition(
            meta,
            Status.DEAD_LETTERED,
            generation,
            at_ms,
            sets={
                "dead_lettered_at": at_ms,
                "reason": reason[:MAX_REASON_LENGTH],
                "dead_letter_kind": kind,
                **(attempt.sets() if attempt else {}),
            },
        )

    def mark_replayed(self, meta: EventMeta, generation: int, at_ms: int) -> bool:
        return self._transition(
            meta, Status.REPLAYED, generation, at_ms, sets={"replayed_at": at_ms, "replay_count": generation}
        )

    @property
    def client(self) -> Any:
        """The DynamoDB client (a transaction spanning this table and another goes through it)."""
        return self._client

    def get(self, event_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self._table, Key={"id": serialize(event_id)}, ConsistentRead=True)
        item = response.get("Item")
        return deserialize_item(item) if item else None
