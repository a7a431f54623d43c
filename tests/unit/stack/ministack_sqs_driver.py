"""MiniStack's SQS actions driven in-process (no server), as its HTTP layer dispatches them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from ministack.services import sqs

from stack.embedded.ministack import patches, sqs_receive_patches

# The wrappers of these patches name the handler they delegate to (``__wrapped__``).
UNWRAPPABLE = {
    patches.FIFO_RECEIVE_PATCH,
    patches.EXPIRED_RECEIPT_PATCH,
    patches.PURGE_DEDUP_PATCH,
    patches.SEND_VALIDATION_PATCH,
    patches.QUEUE_ATTRIBUTES_PATCH,
    sqs_receive_patches.FIFO_RECEIVE_INDEXED_PATCH,
}


def ministack_own(function: Any) -> Any:
    """The function MiniStack (or an earlier, other patch) put there, under these patches' wrappers."""
    while getattr(function, "hookstack_patch", None) in UNWRAPPABLE:
        function = function.__wrapped__
    return function


class SqsDriver:
    """Calls go through ``sqs._HANDLERS``, where the patches install their wrappers."""

    def call(self, action: str, **data: Any) -> Any:
        result = sqs._HANDLERS[action](data, data.get("QueueUrl", ""))
        return asyncio.run(result) if asyncio.iscoroutine(result) else result

    def queue(self, name: str, **attributes: str) -> str:
        return self.call("CreateQueue", QueueName=name, Attributes=attributes)["QueueUrl"]

    def fifo(self, name: str = "q.fifo", **attributes: str) -> str:
        return self.queue(name, FifoQueue="true", **attributes)

    def send(self, url: str, body: str, group: str | None = None, dedup: str | None = None) -> dict:
        data: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if group is not None:
            data["MessageGroupId"] = group
        if dedup is not None:
            data["MessageDeduplicationId"] = dedup
        return self.call("SendMessage", **data)

    def receive(self, url: str, max_messages: int = 10, visibility: int | None = None) -> list[dict]:
        data: dict[str, Any] = {"QueueUrl": url, "MaxNumberOfMessages": max_messages, "WaitTimeSeconds": 0}
        if visibility is not None:
            data["VisibilityTimeout"] = visibility
        return self.call("ReceiveMessage", **data).get("Messages", [])

    def bodies(self, url: str, max_messages: int = 10, visibility: int | None = None) -> list[str]:
        return [m["Body"] for m in self.receive(url, max_messages, visibility)]

    def error(self, action: str, **data: Any) -> sqs._Err:
        with pytest.raises(sqs._Err) as raised:
            self.call(action, **data)
        return raised.value


def restored_sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[SqsDriver]:
    """A clean SQS whose handlers and module functions are put back after the test."""
    # Another test (the server entry's) may have patched this process's MiniStack: start from its own.
    monkeypatch.setattr(sqs, "_HANDLERS", {action: ministack_own(h) for action, h in sqs._HANDLERS.items()})
    for name in ("_collect_fifo", "_expire_retained", "_dlq_sweep", "_delete_messages_for_esm"):
        monkeypatch.setattr(sqs, name, ministack_own(getattr(sqs, name)))
    for name in ("_prune_dedup", "_act_delete_message_batch"):  # other patches rebind these
        monkeypatch.setattr(sqs, name, getattr(sqs, name))
    sqs.reset()
    yield SqsDriver()
    sqs.reset()
