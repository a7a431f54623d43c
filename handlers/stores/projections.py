"""Business writes into the projections table: one item per entity, each event SETs the entity's
latest fields and ADDs 1 to ``writes``. Nothing in the item grows with the number of events: which
events were applied is recorded on each event's own status item (see
:mod:`handlers.stores.exactly_once`), in the same transaction as this write.

During chaos drills (only while the fault configuration asks for it) the worker also appends each
application to a per-message-group applied log, item ``{tenant}#applied-log#{group}``: the order in
which business writes landed, which the drills' reconciler compares with the order of sending."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers.platform.dynamodb_update import UpdateBuilder, serialize, transaction_update

APPLIED_LOG_KIND = "applied-log"
# The string set of applied event ids that items written by earlier releases carry.
LEGACY_APPLIED_EVENTS = "applied_events"


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

    def write_request(
        self, projection: Projection, *, tenant: str, provider: str, topic: str, event_id: str, at_ms: int
    ) -> dict[str, Any]:
        """The business half of the worker's one transaction (unconditional: the status half
        decides whether the event is applied). ``applied_events`` is removed: items written before
        the status item became the applied marker kept every event id there and grew without bound."""
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
            adds={"writes": 1},
            removes=[LEGACY_APPLIED_EVENTS],
        )
        return transaction_update(self._table, projection.item_id(tenant), update)

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
