"""The SQS calls a poller makes, off the event loop (boto3 is blocking; its clients are thread-safe)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stack.embedded.event_plane.records import ReceivedMessage

# Lambda's pollers ask for every system attribute and message attribute.
_ALL = ["All"]


class QueueClient:
    def __init__(self, sqs: Any, executor: ThreadPoolExecutor) -> None:
        self._sqs = sqs
        self._executor = executor

    async def receive(self, queue_url: str, max_messages: int, wait_s: int) -> list[ReceivedMessage]:
        answer = await asyncio.get_running_loop().run_in_executor(
            self._executor, self._receive, queue_url, max_messages, wait_s
        )
        return [ReceivedMessage.from_api(raw) for raw in answer.get("Messages", [])]

    def _receive(self, queue_url: str, max_messages: int, wait_s: int) -> dict[str, Any]:
        return self._sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=_ALL,
            MessageAttributeNames=_ALL,
        )

    async def delete(self, queue_url: str, messages: Sequence[ReceivedMessage]) -> int:
        """Delete ``messages`` (in batches of 10); the number SQS refused."""
        if not messages:
            return 0
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._delete, queue_url, messages)

    def _delete(self, queue_url: str, messages: Sequence[ReceivedMessage]) -> int:
        refused = 0
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            answer = self._sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(chunk)],
            )
            refused += len(answer.get("Failed") or [])
        return refused
