"""The source table's stream → the CDC FIFO queue: one message per newly inserted item.

Only INSERT records are wanted. The mapping's filter keeps the others away on AWS; this function
checks again and counts what it skips (``ignored_by_design``: an update or a delete is not a new
item). Each insert is one SendMessage with MessageGroupId = the item's ordering key and the stream
record's sequence number as the deduplication id, so a retried batch re-sends nothing twice.

A record that cannot be sent fails, and so does every record after it in the batch, unsent
(partial batch response): Lambda resumes the shard at the first failure, so nothing later in the
stream overtakes it on the queue. An item without its ordering key cannot be placed in order: it
fails too, and after the mapping's retries its record goes to the mapping's on-failure queue.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)

from handlers.cdc.contract import ITEM_ID_ATTRIBUTE, ORDERING_KEY_ATTRIBUTE, ItemMessage, plain_json
from handlers.contract.settings import CdcCaptureSettings
from handlers.errors import PermanentError
from handlers.platform.aws_clients import client
from handlers.platform.logging_setup import elapsed_ms, function_logger

logger = function_logger("cdc-capture")


class UnorderableItemError(PermanentError):
    """An inserted item without an id or an ordering key: it has no place in any group's order."""


class BehindFailedRecordError(Exception):
    """Not attempted: an earlier record of the batch failed, and the shard resumes there."""


class Capture:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
        self._failed_in_batch = False
        # Outcomes since the container started.
        self.counts: Counter[str] = Counter()

    def capture_record(self, record: DynamoDBRecord) -> None:
        if self._failed_in_batch:
            self.counts["behind_failure"] += 1
            raise BehindFailedRecordError("an earlier record of this batch failed")
        try:
            self._capture(record)
        except Exception:
            self._failed_in_batch = True
            self.counts["failed"] += 1
            raise

    def _capture(self, record: DynamoDBRecord) -> None:
        if record.event_name is not DynamoDBRecordEventName.INSERT:
            self.counts["ignored_by_design"] += 1
            return
        stream = record.dynamodb
        image = plain_json(stream.new_image) if stream is not None else {}
        sequence_number = stream.sequence_number if stream is not None else None
        item_id, group = image.get(ITEM_ID_ATTRIBUTE), image.get(ORDERING_KEY_ATTRIBUTE)
        if not isinstance(item_id, str) or not item_id or not isinstance(group, str) or not group:
            wanted = f"{ITEM_ID_ATTRIBUTE} and {ORDERING_KEY_ATTRIBUTE}"
            raise UnorderableItemError(f"inserted item without a string {wanted}")
        if not sequence_number:
            raise UnorderableItemError("stream record without a sequence number")
        message = ItemMessage(
            id=item_id, group=group, sequence_number=sequence_number, item=image, captured_at=int(time.time() * 1000)
        )
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=message.model_dump_json(),
            MessageGroupId=group,
            MessageDeduplicationId=sequence_number,
        )
        self.counts["queued"] += 1

    def handle(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        started = time.perf_counter()
        before = Counter(self.counts)
        self._failed_in_batch = False
        response = process_partial_response(
            event=event, record_handler=self.capture_record, processor=self._processor, context=context
        )
        batch = self.counts - before
        logger.info(
            "cdc-capture",
            extra={
                "function": "cdc-capture",
                "status": "partial" if response.get("batchItemFailures") else "ok",
                "records": len(event.get("Records") or []),
                **{name: batch[name] for name in ("queued", "ignored_by_design", "failed", "behind_failure")},
                "duration_ms": elapsed_ms(started),
            },
        )
        return response


@functools.cache
def _capture() -> Capture:
    settings = CdcCaptureSettings.from_env()
    return Capture(client("sqs"), settings.cdc_queue_url)


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return _capture().handle(event, context)
