"""An event's business write and its PROCESSED status in one DynamoDB transaction.

``TransactWriteItems`` with two members: the projection update (unconditional) and the event's
status item set to PROCESSED with the applied marker, conditional on the event never having been
applied and its status being below PROCESSED in the message's generation. Both land or neither
does, so the status item is the proof of application: no separate idempotency record, no list of
applied event ids on the business item.

A cancellation whose status member failed its condition is not an error:

- the event was applied before (another attempt, delivery, concurrent worker or generation):
  ``DUPLICATE``; the attempt is counted on the status item and, when the event was applied in an
  earlier generation (a replay of an event whose success was never acknowledged), the status moves
  to PROCESSED in this one;
- the event was never applied but is already final in this generation (DEAD_LETTERED) or a later
  generation exists: ``SUPERSEDED``; this copy changes nothing.

Any other cancellation (``TransactionConflict`` with a concurrent write on either item, throttling,
a validation error) is a :class:`WriteCancelledError`: retryable, nothing was written.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from handlers.platform.dynamodb_update import (
    CONDITIONAL_CHECK_FAILED,
    NO_REASON,
    cancellation_reasons,
    deserialize_item,
)
from handlers.stores.projections import Projection, ProjectionStore
from handlers.stores.status_store import APPLIED_AT, Attempt, EventMeta, Status, StatusStore, stage, stage_of

# Member order in the transaction (CancellationReasons come back in the same order).
PROJECTION_MEMBER = 0
STATUS_MEMBER = 1


class ApplyOutcome(enum.StrEnum):
    APPLIED = "applied"  # written now, projection and status together
    DUPLICATE = "duplicate"  # applied before: nothing written to the business item
    SUPERSEDED = "superseded"  # never applied, but final in this generation or replayed since


class WriteCancelledError(Exception):
    """The transaction was cancelled for a reason other than "already applied": nothing was
    written, and a retry may succeed."""

    def __init__(self, codes: list[str]):
        super().__init__(f"transaction cancelled: {', '.join(codes) or 'no reason given'}")
        self.codes = codes


class ExactlyOnceWriter:
    def __init__(self, status: StatusStore, projections: ProjectionStore):
        self._status = status
        self._projections = projections

    def apply(
        self,
        projection: Projection,
        meta: EventMeta,
        *,
        generation: int,
        attempt: Attempt,
        at_ms: int,
    ) -> ApplyOutcome:
        members = [
            self._projections.write_request(
                projection,
                tenant=meta.tenant,
                provider=meta.provider,
                topic=meta.topic,
                event_id=meta.event_id,
                at_ms=at_ms,
            ),
            self._status.applied_request(
                meta, generation, at_ms, attempt=attempt, applied_to=projection.item_id(meta.tenant)
            ),
        ]
        try:
            self._status.client.transact_write_items(TransactItems=members)
        except Exception as error:
            reasons = cancellation_reasons(error)
            if reasons is None:
                raise
            codes = [str(reason.get("Code", NO_REASON)) for reason in reasons]
            if len(codes) > STATUS_MEMBER and codes[STATUS_MEMBER] == CONDITIONAL_CHECK_FAILED:
                return self._not_applied(meta, generation, attempt, at_ms, reasons[STATUS_MEMBER])
            raise WriteCancelledError(codes) from None
        return ApplyOutcome.APPLIED

    def _not_applied(
        self, meta: EventMeta, generation: int, attempt: Attempt, at_ms: int, reason: Mapping[str, Any]
    ) -> ApplyOutcome:
        stored = reason.get("Item")
        # ALL_OLD returns the item on AWS; read it where a backend leaves it out.
        item = deserialize_item(stored) if stored else (self._status.get(meta.event_id) or {})
        if APPLIED_AT not in item:
            return ApplyOutcome.SUPERSEDED
        if stage_of(item) < stage(Status.PROCESSED, generation):
            # Applied in an earlier generation: this generation ends PROCESSED too, without a write.
            self._status.mark_processed(meta, generation, at_ms, attempt=attempt)
        else:
            self._status.record_duplicate(meta, attempt)
        return ApplyOutcome.DUPLICATE
