"""``sqs-fifo-receive-indexed``: a FIFO receive and delete that cost O(batch), not O(queue).

With ``sqs-fifo-receive-per-group`` (``patches.py``), a FIFO ReceiveMessage in MiniStack 1.5.33 still
walks the whole queue several times: ``_expire_retained`` (is any message past its retention?),
``_dlq_sweep`` (which received messages reached ``maxReceiveCount``? it rebuilds the list every
time), ``_collect_fifo`` (``_ensure_msg_fields`` on every message, then the groups), and on every
long-poll tick (10 a second while nothing is receivable); DeleteMessageBatch walks it twice more (the
expired-handle check, then the one-pass delete). The cost grows with the backlog, exactly when the
consumer must be fastest.

The patch keeps an index beside each FIFO queue's message list and answers from it:

- per message group, its messages in send order; a heap of group heads keyed by (when the head is
  receivable, send position): the receivable groups come off it in the order the per-group patch
  answers in (a group is receivable when its first message is; it gives its messages up to the first
  one in flight or delayed);
- receipt handle → message, for deletes and the expired-handle check;
- the messages received at least once (the only ones ``_dlq_sweep`` can move), and a lower bound of
  the enqueue times (while it is younger than the retention period nothing can expire).

So a receive costs O(batch × log groups), a delete O(batch × log queue), and the sweeps O(messages
received and not yet deleted). Where the index cannot answer exactly, MiniStack's (or the earlier
patch's) function runs unchanged: a received message visible again (a retry: ``_dlq_sweep`` may move
it), a message old enough to expire, a standard queue.

The index lives in the message list itself (``q["messages"]`` becomes an :class:`IndexedMessages`,
a ``list``; copies and pickles of it are plain lists, so persisted state is what MiniStack writes).
Every use first checks the index still describes the list: MiniStack's other paths rebind the list
(DeleteMessage, PurgeQueue's clear, retention expiry, the dead-letter sweep, its own mapping
poller's filter) or append to it (SendMessage, SNS, EventBridge, S3 notifications); an append is
indexed incrementally, anything else rebuilds the index once (O(queue), as MiniStack's own pass).
ChangeMessageVisibility(Batch), which changes a message's visibility in place, marks the index
stale. Index operations hold a per-queue lock: MiniStack's own mapping poller receives and deletes
from its threads.

Observable semantics kept: the same messages received in the same order with the same fields
(receipt handle, visibility, receive count, first receive time), the same delete answers and
errors, the same queue contents afterwards. ``tests/unit/stack/test_ministack_fifo_receive_indexed.py``
runs random operation sequences through both on twin queues and compares every answer and the queues.

What it relies on (MiniStack 1.5.33): ReceiveMessage and MiniStack's mapping poller call
``_expire_retained``, ``_dlq_sweep`` and ``_collect_msgs`` (→ ``_collect_fifo``) through the module
globals; the per-group patch is ``_collect_fifo``; DeleteMessageBatch is dispatched through
``_HANDLERS`` to the expired-handle wrapper around the one-pass delete; a message's visibility
changes in place only in ``_collect_*`` and ``_act_change_visibility*``. The guard checks the release,
the sources of the MiniStack functions involved and that the earlier patches are the ones in place.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from stack.embedded.ministack.patches import (
    DELETE_BATCH_PATCH,
    EXPIRED_RECEIPT_PATCH,
    FIFO_RECEIVE_PATCH,
    PatchOutcome,
    _expired_message,
    installed_ministack_version,
    source_refusal,
)

FIFO_RECEIVE_INDEXED_PATCH = "sqs-fifo-receive-indexed"

_EXPECTED_SOURCE_SHA256 = {
    "_collect_msgs": "308a6eb1b3d4c8ad5e5e63b0abb0e8ae9556d70f8c8126bfa221b0b3dbf6360a",
    "_expire_retained": "c0da3361632bea2795ae6a11153306fba2fbd9fb38fa218979f1c80758a9a0c5",
    "_dlq_sweep": "6a77691e16715a0d5d433deef257ceaf4751dd44c61dc8d6962588b77d8804d6",
    "_act_receive_message": "abc94f693de18aee03e0fba25ec5d221d9a2ad98436123ccbc78d1cab60f4b7d",
    "_receive_messages_for_esm": "f230dbcd4974adcf5f22b7a8c3d72e41deff97d5ccd39b990f59af9fe9910ff0",
    "_act_change_visibility": "387eac7e8e12f9c2cb7a597a4e5d68d0f909348ff16c13e6cd1a548da3f03b2a",
    "_act_change_visibility_batch": "bd08e3c7b0ab4fa142f8555d72f9dc744c8e829220bb4c08d5f2799029913153",
    "_ensure_msg_fields": "9a82c238b3d6b6b4028c7ef22edbbb4d4d64d886620aca1259f4dbefde25e83b",
    "_delete_messages_for_esm": "c1686f29b48b42eea5a69e1c24da77bd47e96f44372ac765f24fbcb8cf68362b",
}
# A retention check this close to its boundary goes to MiniStack's own pass (its clock reads later).
_RETENTION_MARGIN_S = 1.0
_NO_GROUP = object()


class ReceiveIndex:
    """What a receive and a delete need to know about one FIFO queue's messages (see above)."""

    __slots__ = (
        "lock",
        "stale",
        "count",
        "last",
        "_seqs",
        "seq_of",
        "group_of",
        "groups",
        "heads",
        "by_handle",
        "received",
        "oldest_enqueued",
    )

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.stale = False
        self.count = 0  # messages indexed: the list's length when in sync
        self.last: Any = None  # the last message indexed
        self._seqs = itertools.count()
        self.seq_of: dict[int, int] = {}  # id(message) -> send position (list order)
        self.group_of: dict[int, Any] = {}  # id(message) -> its group key
        self.groups: dict[Any, deque[dict]] = {}  # group -> its messages in send order
        self.heads: list[tuple[float, int, Any]] = []  # (head's visible_at, head's position, group), lazily valid
        self.by_handle: dict[str, dict] = {}  # current receipt handle -> message
        self.received: dict[int, dict] = {}  # id -> message received at least once
        self.oldest_enqueued = float("inf")  # a lower bound of the messages' enqueue times

    def add(self, sqs_module: ModuleType, m: dict) -> None:
        sqs_module._ensure_msg_fields(m)  # MiniStack's collect does this for every message, every time
        seq = next(self._seqs)
        key = id(m)
        self.seq_of[key] = seq
        group = m["group_id"] or (_NO_GROUP, seq)  # no group (internal producers): alone
        self.group_of[key] = group
        messages = self.groups.get(group)
        if messages is None:
            messages = self.groups[group] = deque()
        messages.append(m)
        if len(messages) == 1:
            heapq.heappush(self.heads, (m["visible_at"], seq, group))
        if m["receipt_handle"] is not None:
            self.by_handle[m["receipt_handle"]] = m
        if m["receive_count"] > 0:
            self.received[key] = m
        enqueued = m.get("enqueued_at", m.get("sent_at"))
        if isinstance(enqueued, int | float):
            self.oldest_enqueued = min(self.oldest_enqueued, enqueued)
        else:
            self.oldest_enqueued = float("-inf")  # unknown: let MiniStack's pass decide
        self.count += 1
        self.last = m

    def push_head(self, group: Any) -> None:
        messages = self.groups.get(group)
        if messages:
            head = messages[0]
            heapq.heappush(self.heads, (head["visible_at"], self.seq_of[id(head)], group))

    def compact(self) -> None:
        """Drop the heap's stale entries once they outnumber the groups (deleted or re-keyed heads)."""
        if len(self.heads) > 4 * len(self.groups) + 64:
            self.heads = [(q[0]["visible_at"], self.seq_of[id(q[0])], g) for g, q in self.groups.items() if q]
            heapq.heapify(self.heads)

    def remove(self, messages: list[dict], doomed: list[dict]) -> None:
        """Take ``doomed`` (indexed messages of ``messages``) out of the list in place and out of the index."""
        seq_of = self.seq_of
        touched = set()
        for m in sorted(doomed, key=lambda d: seq_of[id(d)], reverse=True):
            key = id(m)
            position = bisect.bisect_left(messages, seq_of[key], key=lambda d: seq_of[id(d)])
            assert messages[position] is m  # the list is in send order: the index's invariant
            del messages[position]
            group = self.group_of.pop(key)
            in_group = self.groups[group]
            if in_group[0] is m:
                in_group.popleft()
                touched.add(group)
            else:
                for i, other in enumerate(in_group):
                    if other is m:
                        del in_group[i]
                        break
            if not in_group:
                del self.groups[group]
            del seq_of[key]
            handle = m["receipt_handle"]
            if handle is not None and self.by_handle.get(handle) is m:
                del self.by_handle[handle]
            self.received.pop(key, None)
        for group in touched:
            self.push_head(group)
        self.count = len(messages)
        self.last = messages[-1] if messages else None
        self.compact()


class IndexedMessages(list):
    """A FIFO queue's message list with its :class:`ReceiveIndex`; copies and pickles are plain lists."""

    __slots__ = ("receive_index",)

    def __init__(self, messages: Iterable[dict] = ()) -> None:
        super().__init__(messages)
        self.receive_index = ReceiveIndex()

    def __reduce_ex__(self, protocol: Any) -> tuple[type, tuple[list]]:
        return list, (list(self),)

    def __copy__(self) -> list:
        return list(self)

    def __deepcopy__(self, memo: dict) -> list:
        import copy

        return copy.deepcopy(list(self), memo)


def synced_index(sqs_module: ModuleType, q: dict) -> ReceiveIndex:
    """The index of FIFO queue ``q``, brought up to date with its list (see the module docstring)."""
    messages = q["messages"]
    if type(messages) is IndexedMessages:
        index = messages.receive_index
        with index.lock:
            if not index.stale:
                length = len(messages)
                if length == index.count and (length == 0 or messages[-1] is index.last):
                    return index
                if length > index.count and (index.count == 0 or messages[index.count - 1] is index.last):
                    for m in messages[index.count :]:  # appended since: index them
                        index.add(sqs_module, m)
                    return index
    rebuilt = IndexedMessages(messages)
    index = rebuilt.receive_index
    with index.lock:
        for m in rebuilt:
            index.add(sqs_module, m)
    q["messages"] = rebuilt
    return index


def indexed_collect_fifo(sqs_module: ModuleType, per_group: Callable[..., list]) -> Callable[..., list]:
    """``_collect_fifo`` as the per-group patch answers, from the index."""

    def collect_fifo(q: dict, max_n: int, vis_timeout: int, now: float) -> list:
        index = synced_index(sqs_module, q)
        with index.lock:
            heads = index.heads
            result: list = []
            taken: list = []
            taken_set: set = set()
            while heads and len(result) < max_n and heads[0][0] <= now:
                visible_at, seq, group = heapq.heappop(heads)
                messages = index.groups.get(group)
                if not messages or group in taken_set:
                    continue
                head = messages[0]
                if index.seq_of[id(head)] != seq or head["visible_at"] != visible_at:
                    continue  # an entry of an earlier head or visibility: the current one is in the heap too
                for m in messages:
                    if len(result) >= max_n or m["visible_at"] > now:
                        break
                    result.append(m)
                taken.append(group)
                taken_set.add(group)
            for m in result:
                old = m["receipt_handle"]
                if old is not None and index.by_handle.get(old) is m:
                    del index.by_handle[old]
                m["receipt_handle"] = sqs_module.new_uuid()
                m["visible_at"] = now + vis_timeout
                m["receive_count"] += 1
                if m.get("first_receive_at") is None:
                    m["first_receive_at"] = now
                index.by_handle[m["receipt_handle"]] = m
                index.received[id(m)] = m
            for group in taken:
                index.push_head(group)
            index.compact()
            return result

    collect_fifo.hookstack_patch = FIFO_RECEIVE_INDEXED_PATCH  # type: ignore[attr-defined]  # marks it in place
    collect_fifo.__wrapped__ = per_group  # type: ignore[attr-defined]  # the per-group patch, for tests
    return collect_fifo


def indexed_expire_retained(sqs_module: ModuleType, expire_retained: Callable[[dict], None]) -> Callable[[dict], None]:
    """``_expire_retained``: nothing to do while the oldest FIFO message is younger than the retention."""

    def expire(q: dict) -> None:
        if q.get("is_fifo"):
            try:
                retention = int(q["attributes"].get("MessageRetentionPeriod", "345600"))
            except (TypeError, ValueError):
                retention = None
            if retention is not None and retention > 0:
                index = synced_index(sqs_module, q)
                if index.oldest_enqueued > time.time() + _RETENTION_MARGIN_S - retention:
                    return
        expire_retained(q)

    expire.__wrapped__ = expire_retained  # type: ignore[attr-defined]
    expire.hookstack_patch = FIFO_RECEIVE_INDEXED_PATCH  # type: ignore[attr-defined]
    return expire


def indexed_dlq_sweep(sqs_module: ModuleType, dlq_sweep: Callable[[dict], None]) -> Callable[[dict], None]:
    """``_dlq_sweep``: it moves only received messages visible again; while none is, it has nothing to do."""

    def sweep(q: dict) -> None:
        if q.get("is_fifo"):
            index = synced_index(sqs_module, q)
            now = time.time()
            with index.lock:
                returned = any(m["visible_at"] <= now for m in index.received.values())
            if not returned:
                return
        dlq_sweep(q)

    sweep.__wrapped__ = dlq_sweep  # type: ignore[attr-defined]
    sweep.hookstack_patch = FIFO_RECEIVE_INDEXED_PATCH  # type: ignore[attr-defined]
    return sweep


def indexed_delete_message_batch(
    sqs_module: ModuleType, inner: Callable[[dict, str], Any]
) -> Callable[[dict, str], Any]:
    """DeleteMessageBatch on a FIFO queue as the expired-handle patch around the one-pass delete
    answers, from the index; standard queues go to ``inner``."""

    def delete_message_batch(data: dict, qurl: str) -> Any:
        q = sqs_module._get_q(data.get("QueueUrl", qurl), "sqs:DeleteMessage")
        if not q["is_fifo"]:
            return inner(data, qurl)
        entries = data.get("Entries", [])
        sqs_module._validate_batch_entries(entries, "DeleteMessageBatchRequestEntry")
        index = synced_index(sqs_module, q)
        now = time.time()
        with index.lock:
            current = {}
            for e in entries:
                handle = e.get("ReceiptHandle", "")
                if isinstance(handle, str) and handle and (m := index.by_handle.get(handle)) is not None:
                    current[handle] = m
            expired = {h for h, m in current.items() if m["visible_at"] <= now}
            # As the expired-handle patch: its membership test (which refuses an unhashable handle
            # with TypeError) runs before anything is deleted.
            late = [e for e in entries if e.get("ReceiptHandle") in expired] if expired else []
            ok: list = []
            fail: list = []
            doomed: dict[int, dict] = {}
            taken: set[str] = set()
            late_ids = {id(e) for e in late}
            for e in entries:
                handle = e.get("ReceiptHandle", "")
                if id(e) in late_ids:
                    continue  # answered after the others, as the expired-handle patch does
                if isinstance(handle, str) and handle in current and handle not in taken:
                    taken.add(handle)  # a repeated handle: the earlier entry took the message
                    doomed[id(current[handle])] = current[handle]
                    ok.append({"Id": e.get("Id", "")})
                else:
                    fail.append(
                        {
                            "Id": e.get("Id", ""),
                            "Code": "ReceiptHandleIsInvalid",
                            "Message": "The input receipt handle is invalid.",
                            "SenderFault": True,
                        }
                    )
            if doomed:
                index.remove(q["messages"], list(doomed.values()))
            for e in late:
                fail.append(
                    {
                        "Id": e.get("Id", ""),
                        "Code": "InvalidParameterValue",
                        "Message": _expired_message(e["ReceiptHandle"]),
                        "SenderFault": True,
                    }
                )
        return {"Successful": ok, "Failed": fail}

    return delete_message_batch


def indexed_delete_messages_for_esm(
    sqs_module: ModuleType, delete_for_esm: Callable[[str, set[str]], None]
) -> Callable[[str, set[str]], None]:
    """MiniStack's own mapping poller's delete (``_delete_messages_for_esm``), from the index on FIFO queues."""

    def delete_messages_for_esm(queue_url: str, receipt_handles: set[str]) -> None:
        if not receipt_handles:
            return
        with sqs_module._queues_lock:
            q = sqs_module._get_q(queue_url)
            if q["is_fifo"]:
                index = synced_index(sqs_module, q)
                with index.lock:
                    doomed = [m for h in receipt_handles if (m := index.by_handle.get(h)) is not None]
                    if doomed:
                        index.remove(q["messages"], doomed)
                return
        delete_for_esm(queue_url, receipt_handles)  # a standard queue: MiniStack's (it takes the lock itself)

    delete_messages_for_esm.__wrapped__ = delete_for_esm  # type: ignore[attr-defined]
    delete_messages_for_esm.hookstack_patch = FIFO_RECEIVE_INDEXED_PATCH  # type: ignore[attr-defined]
    return delete_messages_for_esm


def staling_change_visibility(sqs_module: ModuleType, inner: Callable[[dict, str], Any]) -> Callable[[dict, str], Any]:
    """ChangeMessageVisibility(Batch) changes a message's visibility in place: the index of its
    queue is rebuilt before its next use."""

    def change_visibility(data: dict, qurl: str) -> Any:
        try:
            return inner(data, qurl)
        finally:
            try:
                messages = sqs_module._get_q(data.get("QueueUrl", qurl))["messages"]
            except Exception:  # noqa: BLE001  (no such queue: inner answered with the error already)
                messages = None
            if type(messages) is IndexedMessages:
                messages.receive_index.stale = True

    return change_visibility


def fifo_receive_indexed_refusal(sqs_module: ModuleType, installed_version: str | None) -> str | None:
    refusal = source_refusal(sqs_module, _EXPECTED_SOURCE_SHA256, installed_version)
    if refusal is not None:
        return refusal
    if getattr(sqs_module._collect_fifo, "hookstack_patch", None) != FIFO_RECEIVE_PATCH:
        return f"_collect_fifo is not the {FIFO_RECEIVE_PATCH} patch this one builds on"
    handlers = getattr(sqs_module, "_HANDLERS", None)
    if not isinstance(handlers, dict):
        return "ministack.services.sqs._HANDLERS is missing"
    batch = handlers.get("DeleteMessageBatch")
    if getattr(batch, "hookstack_patch", None) != EXPIRED_RECEIPT_PATCH or (
        getattr(getattr(batch, "__wrapped__", None), "hookstack_patch", None) != DELETE_BATCH_PATCH
    ):
        return f"DeleteMessageBatch is not {EXPIRED_RECEIPT_PATCH} around {DELETE_BATCH_PATCH}"
    for action, function in (
        ("ChangeMessageVisibility", "_act_change_visibility"),
        ("ChangeMessageVisibilityBatch", "_act_change_visibility_batch"),
    ):
        if handlers.get(action) is not getattr(sqs_module, function):
            return f"ministack.services.sqs._HANDLERS no longer dispatches {action} to {function}"
    return None


def apply_fifo_receive_indexed_patch(
    sqs_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    """Install the indexed FIFO receive and delete, after (and on top of) ``patches.apply_patches()``."""
    if sqs_module is None:
        from ministack.services import sqs

        sqs_module = sqs
    if getattr(getattr(sqs_module, "_collect_fifo", None), "hookstack_patch", None) == FIFO_RECEIVE_INDEXED_PATCH:
        return PatchOutcome(FIFO_RECEIVE_INDEXED_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = fifo_receive_indexed_refusal(sqs_module, version)
    if refusal is not None:
        return PatchOutcome(FIFO_RECEIVE_INDEXED_PATCH, False, refusal)
    handlers = sqs_module._HANDLERS
    # Module globals: ReceiveMessage and MiniStack's mapping poller look them up on every call.
    setattr(sqs_module, "_collect_fifo", indexed_collect_fifo(sqs_module, sqs_module._collect_fifo))  # noqa: B010
    setattr(sqs_module, "_expire_retained", indexed_expire_retained(sqs_module, sqs_module._expire_retained))  # noqa: B010
    setattr(sqs_module, "_dlq_sweep", indexed_dlq_sweep(sqs_module, sqs_module._dlq_sweep))  # noqa: B010
    setattr(  # noqa: B010
        sqs_module,
        "_delete_messages_for_esm",
        indexed_delete_messages_for_esm(sqs_module, sqs_module._delete_messages_for_esm),
    )
    for action, factory in (
        ("DeleteMessageBatch", indexed_delete_message_batch),
        ("ChangeMessageVisibility", staling_change_visibility),
        ("ChangeMessageVisibilityBatch", staling_change_visibility),
    ):
        inner = handlers[action]
        wrapped = factory(sqs_module, inner)
        wrapped.hookstack_patch = FIFO_RECEIVE_INDEXED_PATCH  # type: ignore[attr-defined]
        wrapped.__wrapped__ = inner  # type: ignore[attr-defined]
        handlers[action] = wrapped
    return PatchOutcome(
        FIFO_RECEIVE_INDEXED_PATCH, True, "FIFO receives and deletes cost O(batch) through a per-queue index"
    )
