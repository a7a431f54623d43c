"""What the completions topic carries: a Standard Webhooks payload ``{"type", "timestamp", "data"}``
as the message (raw delivery makes it the callback queue message's body, byte for byte: the body
the sender signs and POSTs), and two message attributes, ``tenant`` (whose callback it is) and
``event_id`` (the callback's ``webhook-id``, the receiver's idempotency key).

The event id is derived from what the event is about (``job.completed`` of job X in status S), so
publishing the same fact twice (a retried result record) is one delivery in effect at the receiver.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

ATTR_TENANT = "tenant"
ATTR_EVENT_ID = "event_id"
JOB_COMPLETED = "job.completed"


class Notification(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    timestamp: str  # RFC 3339, UTC
    data: dict[str, Any]

    def body(self) -> str:
        return json.dumps(self.model_dump(), separators=(",", ":"), sort_keys=True)


def notification_id(event_type: str, subject: str) -> str:
    """``msg_`` + 32 hex digits, the same for the same (type, subject) every time."""
    return "msg_" + hashlib.sha256(f"{event_type}\n{subject}".encode()).hexdigest()[:32]


class NotificationPublisher:
    """Publishes to the completions topic; an error propagates (the caller's record fails and is
    retried, so a publish is never lost)."""

    def __init__(self, sns: Any, topic_arn: str):
        self._sns = sns
        self._topic_arn = topic_arn

    def publish(self, tenant: str, event_id: str, notification: Notification) -> None:
        self._sns.publish(
            TopicArn=self._topic_arn,
            Message=notification.body(),
            MessageAttributes={
                ATTR_TENANT: {"DataType": "String", "StringValue": tenant},
                ATTR_EVENT_ID: {"DataType": "String", "StringValue": event_id},
            },
        )
