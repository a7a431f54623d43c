"""Business writes into the projections table: one item per entity, ``writes`` ADD 1 and
``applied_events`` ADD {event_id} per application.

During chaos drills (only while the fault configuration asks for it) the worker also appends each
application to a per-message-group applied log, item ``{tenant}#applied-log#{group}``: the order in
which business writes landed, which the drills' reconciler compares with the order of sending."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers.platform.dynamodb_update import UpdateBuilder, is_conditional_check_failure, serialize

APPLIED_LOG_KIND = "applied-log"


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

    def apply(
        self, projection: Projection, *, tenant: str, provider: str, topic: str, event_id: str, at_ms: int
    ) -> bool:
        """Write once per event. Powertools idempotency already stops a second application; the
        condition is the last line of defence for the window where the write happened but the
        idempotency record was not saved (crash, timeout). Returns False when it was already applied."""
        update = UpdateBuilder(
            sets={
                "kind": projection.kind,
                "entity_id": projection.entity_id,
                "tenant": tenant,
                "provider": provider,
                "last_topic": topic,
                "last_event_id": event_id,
                "updated_at": at_ms,
                "data": projection.fields,
            },
            adds={"writes": 1, "applied_events": {event_id}},
        )
        update.condition = (
            f"attribute_not_exists({update.name('applied_events')}) OR NOT "
            f"contains({update.name('applied_events')}, {update.value('event_id', event_id)})"
        )
        try:
            self._client.update_item(
                TableName=self._table, Key={"id": serialize(projection.item_id(tenant))}, **update.kwargs()
            )
        except Exception as error:
            if is_conditional_check_failure(error):
                return False
            raise
        return True

    def append_applied_log(self, *, tenant: str, group: str, event_id: str, generation: int, at_ms: int) -> None:
        """Append one application to its message group's applied log (list_append is atomic per item,
        so the list keeps the order in which the writes landed)."""
        update = UpdateBuilder(sets={"kind": APPLIED_LOG_KIND, "tenant": tenant, "group": group, "updated_at": at_ms})
        entries = update.name("entries")
        entry = update.value("entry", [{"event_id": event_id, "generation": generation, "at_ms": at_ms}])
        empty = update.value("empty", [])
        kwargs = update.kwargs()
        kwargs["UpdateExpression"] += f", {entries} = list_append(if_not_exists({entries}, {empty}), {entry})"
        self._client.update_item(
            TableName=self._table, Key={"id": serialize(f"{tenant}#{APPLIED_LOG_KIND}#{group}")}, **kwargs
        )
