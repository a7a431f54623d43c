"""Business writes into the projections table: one item per entity, ``writes`` ADD 1 and
``applied_events`` ADD {event_id} per application."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers.dynamodb_update import UpdateBuilder, is_conditional_check_failure, serialize


@dataclass(frozen=True)
class Projection:
    """The entity an event updates and the fields it sets (strings/ints/bools/None only)."""

    kind: str
    entity_id: str
    fields: dict[str, Any] = field(default_factory=dict)

    def item_id(self, tenant: str) -> str:
        return f"{tenant}#{self.kind}#{self.entity_id}"


class ProjectionStore:
    def __init__(self, client: Any, table: str):
        self._client = client
        self._table = table

    def apply(self, projection: Projection, *, tenant: str, provider: str, topic: str, event_id: str,
              at_ms: int) -> bool:
        """Write once per event. Powertools idempotency already stops a second application; the
        condition is the last line of defence for the window where the write happened but the
        idempotency record was not saved (crash, timeout). Returns False when it was already applied."""
        update = UpdateBuilder(
            sets={"kind": projection.kind, "entity_id": projection.entity_id, "tenant": tenant,
                  "provider": provider, "last_topic": topic, "last_event_id": event_id, "updated_at": at_ms,
                  "data": projection.fields},
            adds={"writes": 1, "applied_events": {event_id}},
        )
        update.condition = (f"attribute_not_exists({update.name('applied_events')}) OR NOT "
                            f"contains({update.name('applied_events')}, {update.value('event_id', event_id)})")
        try:
            self._client.update_item(TableName=self._table, Key={"id": serialize(projection.item_id(tenant))},
                                     **update.kwargs())
        except Exception as error:
            if is_conditional_check_failure(error):
                return False
            raise
        return True
