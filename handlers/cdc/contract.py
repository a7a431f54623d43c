"""What the capture function puts on the CDC queue and the trickle function reads from it.

The source table's items are keyed by ``id`` and carry an ordering key (``customer``): every
change of one customer reaches the partner in the order it was written, so the ordering key is
the message group. The stream record's sequence number is the deduplication id (a retried capture
sends the same record again within SQS's 5-minute window: it is dropped) and the partner's
``Idempotency-Key`` (a delivery repeated after a lost delete is recognisable there).
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

ITEM_ID_ATTRIBUTE = "id"
ORDERING_KEY_ATTRIBUTE = "customer"
# The partner's header naming the group (its per-group order is checked against it).
GROUP_KEY_HEADER = "X-Group-Key"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# Where items go on the partner's API.
PARTNER_ITEMS_PATH = "/trickle/items"
# A dead-lettered message carries why, in this message attribute.
ATTR_DEAD_LETTER_REASON = "dead_letter_reason"


class ItemMessage(BaseModel):
    """One inserted item, as queued: the item itself in plain JSON and where it came from."""

    id: str = Field(min_length=1)
    group: str = Field(min_length=1, max_length=128)
    sequence_number: str = Field(min_length=1, max_length=128)
    item: dict[str, Any]
    captured_at: int  # epoch ms


def plain_json(value: Any) -> Any:
    """DynamoDB's deserialized values as JSON: numbers are ``Decimal`` there, sets are sets."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain_json(item) for item in value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value
