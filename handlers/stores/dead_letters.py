"""Sends a permanently failed message to the FIFO DLQ at once, reason attached."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from handlers.contract.message import (
    ATTR_DEAD_LETTER_KIND,
    ATTR_DEAD_LETTER_REASON,
    ATTR_DEAD_LETTERED_AT,
    DeadLetterKind,
    fit_attributes,
    to_sqs_attributes,
    truncate_attribute,
)


class DeadLetterQueue:
    def __init__(self, client: Any, queue_url: str):
        self._client = client
        self._url = queue_url

    def send(
        self,
        *,
        body: str,
        group_id: str,
        attributes: Mapping[str, str],
        reason: str,
        kind: DeadLetterKind,
        at_ms: int,
        deduplication_key: str,
    ) -> str:
        """Same group id as the source (order within the group is kept in the DLQ). The dedup id is
        deterministic, so a worker retried between this send and its own success does not queue a
        second copy within SQS's 5-minute window."""
        values = {
            **attributes,
            ATTR_DEAD_LETTER_REASON: truncate_attribute(reason),
            ATTR_DEAD_LETTER_KIND: kind,
            ATTR_DEAD_LETTERED_AT: str(at_ms),
        }
        dedup = hashlib.sha256(f"dlq\n{deduplication_key}".encode()).hexdigest()
        response = self._client.send_message(
            QueueUrl=self._url,
            MessageBody=body,
            MessageGroupId=group_id,
            MessageDeduplicationId=dedup,
            MessageAttributes=to_sqs_attributes(fit_attributes(values)),
        )
        return response["MessageId"]
