"""The callback dead-letter queue: callbacks whose every attempt failed (``callback_max_attempts``),
moved there by SQS redrive. List them, and replay them: back to the callback queue, where the
sender tries again from its first backoff step.

The same receive → send → delete shape as ``stack.ops.dlq`` (and its receive loop, bounded in
count and time): a message leaves the DLQ only after its copy is in the callback queue, so a
replay that dies midway loses nothing and a re-run re-sends it. A copy sent twice is harmless:
the callback keeps its ``webhook-id`` (the event id), the receiver's idempotency key. The callback
queue is a standard queue: no group or deduplication id to carry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from handlers.contract.message import to_sqs_attributes
from handlers.notifications.contract import ATTR_EVENT_ID, ATTR_TENANT
from stack.errors import HookstackError
from stack.ops.dlq import (
    DEFAULT_MAX_MESSAGES,
    DEFAULT_VISIBILITY_SECONDS,
    PREVIEW_CHARS,
    ReplayResult,
    receive_dead_letters,
    release_dead_letters,
)


@dataclass(frozen=True)
class DeadCallback:
    event_id: str | None
    tenant: str | None
    attempts: int  # SQS receives before redrive, and any since (a listing counts as one)
    body_preview: str
    message_id: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _dead_callback(message: dict[str, Any], event_id: str | None, tenant: str | None, receives: int) -> DeadCallback:
    body = message.get("Body") or ""
    preview = body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1] + "…"
    return DeadCallback(event_id, tenant, receives, preview, message.get("MessageId", ""))


def list_dead_callbacks(sqs: Any, dlq_url: str, limit: int = 20) -> list[DeadCallback]:
    """Up to ``limit`` dead callbacks, left in the DLQ (received briefly, then released)."""
    if limit < 1:
        raise HookstackError("limit must be at least 1")
    seen = list(receive_dead_letters(sqs, dlq_url, visibility=30, max_messages=limit, wait_seconds=0))
    release_dead_letters(sqs, dlq_url, seen)
    return [
        _dead_callback(item.message, item.letter.event_id, item.letter.tenant, item.letter.receive_count)
        for item in seen
    ]


def replay_callbacks(
    sqs: Any,
    callback_queue_url: str,
    dlq_url: str,
    *,
    ids: Iterable[str] | None = None,
    all: bool = False,
    dry_run: bool = False,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    visibility_seconds: int = DEFAULT_VISIBILITY_SECONDS,
) -> ReplayResult:
    """The dead callbacks of the event ids in ``ids``, or every one with ``all=True``, back to the
    callback queue."""
    wanted = set(ids or ())
    if all == bool(wanted):
        raise HookstackError("give either event ids or all=True")
    result = ReplayResult()  # status_failed stays 0: callbacks have no status item
    remaining = set(wanted)
    untouched = []
    try:
        for item in receive_dead_letters(
            sqs,
            dlq_url,
            visibility=visibility_seconds,
            max_messages=max_messages,
            wait_seconds=0,
            done=lambda: not all and not remaining,
        ):
            result.scanned += 1
            event_id = item.letter.event_id or item.letter.message_id
            if not all and event_id not in remaining:
                untouched.append(item)
                continue
            result.matched += 1
            remaining.discard(event_id)
            if dry_run:
                result.would_replay += 1
                untouched.append(item)
                continue
            attributes = {k: v for k, v in item.letter.attributes.items() if k in (ATTR_TENANT, ATTR_EVENT_ID)}
            try:
                sqs.send_message(
                    QueueUrl=callback_queue_url,
                    MessageBody=item.message.get("Body") or "",
                    MessageAttributes=to_sqs_attributes(attributes),
                )
            except Exception as error:  # noqa: BLE001 - reported per callback: one failed send must not stop the rest
                result.failed += 1
                result.errors.append(f"{event_id}: send failed: {error}")
                untouched.append(item)
                continue
            result.replayed += 1
            result.replayed_ids.append(event_id)
            try:
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=item.message["ReceiptHandle"])
            except Exception as error:  # noqa: BLE001 - reported per callback: a re-run is safe
                result.delete_failed += 1
                result.errors.append(f"{event_id}: sent but not deleted from the DLQ (a re-run is safe): {error}")
    finally:
        release_dead_letters(sqs, dlq_url, untouched)
    result.not_found = sorted(remaining)
    return result
