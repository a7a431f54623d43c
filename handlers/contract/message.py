"""The queue message contract shared by producer, worker and replay (docs/architecture.md)."""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ATTR_EVENT_ID = "event_id"
ATTR_TENANT = "tenant"
ATTR_PROVIDER = "provider"
ATTR_TOPIC = "topic"
ATTR_DELIVERY_ID = "delivery_id"
ATTR_RECEIVED_AT = "received_at"
ATTR_API_VERSION = "api_version"
ATTR_CLAIM_CHECK = "claim_check"
ATTR_DEAD_LETTER_REASON = "dead_letter_reason"
ATTR_DEAD_LETTER_KIND = "dead_letter_kind"
ATTR_DEAD_LETTERED_AT = "dead_lettered_at"
ATTR_REPLAY_COUNT = "replay_count"

DEAD_LETTER_ATTRIBUTES = (ATTR_DEAD_LETTER_REASON, ATTR_DEAD_LETTER_KIND, ATTR_DEAD_LETTERED_AT)


class DeadLetterKind(enum.StrEnum):
    """Why a message is in the DLQ (``dead_letter_kind`` on the message and the status item)."""

    PERMANENT = "permanent"  # the worker sent it at once: retrying cannot succeed
    TRANSIENT = "transient"  # SQS moved it after maxReceiveCount failed receives


# SQS accepts at most 10 message attributes. A Shopify, claim-checked, replayed message that is
# dead-lettered would carry 12, so these optional ones go first (both are also on the status item).
MAX_MESSAGE_ATTRIBUTES = 10
DROPPABLE_ATTRIBUTES = (ATTR_API_VERSION, ATTR_RECEIVED_AT)

MAX_GROUP_ID_LENGTH = 128
MAX_ATTRIBUTE_VALUE_LENGTH = 1024
_GROUP_ID_CHARS = re.compile(r"^[\x21-\x7e]+$")  # SQS: alphanumerics and punctuation
EVENT_ID_PATTERN = re.compile(r"^evt_[0-9a-f]{32}$")


def event_id(tenant: str, provider: str, delivery_id: str) -> str:
    """Same delivery (a provider retry) → same id; scoped per tenant."""
    return "evt_" + hashlib.sha256(f"{tenant}\n{provider}\n{delivery_id}".encode()).hexdigest()[:32]


def message_group_id(tenant: str, ordering_key: str) -> str:
    """``{tenant}:{ordering key}``; hashed when too long for SQS or not made of SQS-legal characters."""
    group = f"{tenant}:{ordering_key}"
    if len(group) <= MAX_GROUP_ID_LENGTH and _GROUP_ID_CHARS.match(group):
        return group
    hashed = f"{tenant}:sha256:{hashlib.sha256(ordering_key.encode()).hexdigest()}"
    if len(hashed) <= MAX_GROUP_ID_LENGTH and _GROUP_ID_CHARS.match(hashed):
        return hashed
    return "sha256:" + hashlib.sha256(group.encode()).hexdigest()


class ClaimCheck(BaseModel):
    """Pointer to a body stored in S3 because it was too large for the queue."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    def to_message_body(self) -> str:
        return json.dumps({"claim_check": self.model_dump()}, separators=(",", ":"))

    @classmethod
    def from_message_body(cls, body: str) -> ClaimCheck:
        return cls.model_validate(json.loads(body)["claim_check"])


def to_sqs_attributes(values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Plain strings → SendMessage ``MessageAttributes``."""
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def from_sqs_attributes(attributes: Mapping[str, Any] | None) -> dict[str, str]:
    """String attributes from either a Lambda SQS event (``stringValue``) or ReceiveMessage
    (``StringValue``) → plain strings."""
    values: dict[str, str] = {}
    for name, attribute in (attributes or {}).items():
        value = attribute.get("stringValue", attribute.get("StringValue"))
        if value is not None:
            values[name] = value
    return values


def fit_attributes(values: Mapping[str, str]) -> dict[str, str]:
    """Drop optional attributes until the message is within SQS's attribute count limit."""
    fitted = dict(values)
    for name in DROPPABLE_ATTRIBUTES:
        if len(fitted) <= MAX_MESSAGE_ATTRIBUTES:
            break
        fitted.pop(name, None)
    if len(fitted) > MAX_MESSAGE_ATTRIBUTES:
        raise ValueError(f"{len(fitted)} message attributes; SQS allows {MAX_MESSAGE_ATTRIBUTES}")
    return fitted


def truncate_attribute(value: str, limit: int = MAX_ATTRIBUTE_VALUE_LENGTH) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
