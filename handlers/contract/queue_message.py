"""A message from the ingestion queue, as the worker sees it (Lambda SQS event record)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.contract.message import (
    ATTR_CLAIM_CHECK,
    ATTR_DELIVERY_ID,
    ATTR_EVENT_ID,
    ATTR_PROVIDER,
    ATTR_RECEIVED_AT,
    ATTR_REPLAY_COUNT,
    ATTR_TENANT,
    ATTR_TOPIC,
    from_sqs_attributes,
)
from handlers.errors import MalformedMessageError
from handlers.stores.status_store import EventMeta

REQUIRED_ATTRIBUTES = (ATTR_EVENT_ID, ATTR_TENANT, ATTR_PROVIDER, ATTR_TOPIC)


def _int_or(value: str | None, default: int | None) -> int | None:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    body: str
    group_id: str
    attributes: dict[str, str]
    receive_count: int
    sent_timestamp_ms: int | None

    @classmethod
    def from_record(cls, record: Any) -> QueueMessage:
        """``record``: a Powertools ``SQSRecord`` or the raw record dict."""
        raw = record.raw_event if hasattr(record, "raw_event") else record
        system = raw.get("attributes") or {}
        return cls(
            message_id=raw.get("messageId", ""),
            body=raw.get("body") or "",
            group_id=system.get("MessageGroupId", ""),
            attributes=from_sqs_attributes(raw.get("messageAttributes")),
            receive_count=_int_or(system.get("ApproximateReceiveCount"), 1) or 1,
            sent_timestamp_ms=_int_or(system.get("SentTimestamp"), None),
        )

    @property
    def event_id(self) -> str | None:
        return self.attributes.get(ATTR_EVENT_ID)

    @property
    def generation(self) -> int:
        """Replays so far: each replay starts a new status generation."""
        return max(0, _int_or(self.attributes.get(ATTR_REPLAY_COUNT), 0) or 0)

    @property
    def is_claim_check(self) -> bool:
        return self.attributes.get(ATTR_CLAIM_CHECK) == "1"

    def has_contract(self) -> bool:
        return all(self.attributes.get(name) for name in REQUIRED_ATTRIBUTES)

    def require_contract(self) -> None:
        missing = [name for name in REQUIRED_ATTRIBUTES if not self.attributes.get(name)]
        if missing:
            raise MalformedMessageError(f"message lacks attributes {missing}")

    def meta(self) -> EventMeta:
        a = self.attributes
        return EventMeta(
            event_id=a[ATTR_EVENT_ID],
            tenant=a[ATTR_TENANT],
            provider=a[ATTR_PROVIDER],
            topic=a[ATTR_TOPIC],
            delivery_id=a.get(ATTR_DELIVERY_ID, ""),
            group=self.group_id,
            received_at=_int_or(a.get(ATTR_RECEIVED_AT), None),
        )
