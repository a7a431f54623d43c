"""What Lambda's SQS poller hands the function, and what it does with the answer (pure).

The event shape is the documented ``aws:sqs`` record; the answer rules are those of
``ReportBatchItemFailures``: an answer that names items fails exactly those, an empty
``batchItemFailures`` (or no such key) succeeds the whole batch, and an answer naming an
item that is not in the batch, or with an empty identifier, fails the whole batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The message system attributes Lambda copies into each record, in the event's key order.
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "AWSTraceHeader",
    "SentTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "SenderId",
    "MessageDeduplicationId",
    "ApproximateFirstReceiveTimestamp",
)


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as ReceiveMessage returned it."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: Mapping[str, str]
    message_attributes: Mapping[str, Mapping[str, Any]]

    @property
    def group_id(self) -> str | None:
        return self.attributes.get("MessageGroupId")

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> ReceivedMessage:
        return cls(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw.get("Body", ""),
            md5_of_body=raw.get("MD5OfBody", ""),
            attributes=dict(raw.get("Attributes") or {}),
            message_attributes=dict(raw.get("MessageAttributes") or {}),
        )


def _camel_case_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    # The SQS API speaks StringValue/DataType/…; the Lambda event speaks stringValue/dataType/….
    out = {key[:1].lower() + key[1:]: item for key, item in value.items()}
    out.setdefault("stringListValues", [])
    out.setdefault("binaryListValues", [])
    return out


def sqs_event(messages: Sequence[ReceivedMessage], queue_arn: str, region: str) -> dict[str, Any]:
    """The ``{"Records": [...]}`` event Lambda's SQS poller invokes the function with."""
    return {
        "Records": [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {k: m.attributes[k] for k in RECORD_ATTRIBUTES if k in m.attributes},
                "messageAttributes": {
                    name: _camel_case_attribute(value) for name, value in m.message_attributes.items()
                },
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """Which messages of an invoked batch are deleted, and which are left for SQS to redeliver."""

    delete: tuple[ReceivedMessage, ...]
    retry: tuple[ReceivedMessage, ...]
    reason: str | None = None  # why the whole batch failed, if it did

    @classmethod
    def whole_batch_failed(cls, messages: Sequence[ReceivedMessage], reason: str) -> BatchOutcome:
        return cls((), tuple(messages), reason)


def answer_outcome(messages: Sequence[ReceivedMessage], answer: Any, report_batch_item_failures: bool) -> BatchOutcome:
    """The outcome of a batch whose function returned ``answer`` (it did not raise)."""
    if not report_batch_item_failures or not isinstance(answer, Mapping):
        return BatchOutcome(tuple(messages), ())
    failures = answer.get("batchItemFailures")
    if failures is None or failures == []:
        return BatchOutcome(tuple(messages), ())
    if not isinstance(failures, list):
        return BatchOutcome.whole_batch_failed(messages, "batchItemFailures is not a list")
    by_id = {m.message_id: m for m in messages}
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or not identifier:
            return BatchOutcome.whole_batch_failed(messages, "a batch item failure has no itemIdentifier")
        if identifier not in by_id:
            return BatchOutcome.whole_batch_failed(messages, f"itemIdentifier {identifier!r} is not in the batch")
        failed.add(identifier)
    return BatchOutcome(
        tuple(m for m in messages if m.message_id not in failed),
        tuple(m for m in messages if m.message_id in failed),
    )
