"""Fix-and-replay for the FIFO dead-letter queue: list, show, replay.

Pure logic over boto3 clients passed in (the CLI wires ``hookstack dlq list|show|replay``).

Replay is receive → send to the source queue → set status REPLAYED → delete from the DLQ, per
message, and the delete happens only after the send succeeded. Why not SQS's
``StartMessageMoveTask``: the embedded emulator does not implement it (InvalidAction), it moves
everything or nothing (no per-event selection), cannot carry a fixed body, and does not record
REPLAYED or a replay count. The receive/send/delete path works on every target.

Nothing is lost if a replay dies midway: a message is only deleted from the DLQ after its copy is
in the source queue, and an undeleted one comes back when its (short) visibility timeout ends,
so running the replay again re-sends it. The deduplication id of a re-injected copy is derived
from (event id, replay number, body), so a re-run within SQS's 5-minute window is dropped by SQS
and a later one is a duplicate the worker's idempotency (keyed on the event id) ignores.

FIFO limit: a message group's messages come out in order, and while one is received the rest of
its group stays hidden. A targeted replay (``ids``) therefore reaches an event only within the
first received batch of its group; ``all=True`` drains groups in order. Ids not reached are
reported in ``ReplayResult.not_found``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from handlers.contract.message import (
    ATTR_CLAIM_CHECK,
    ATTR_DEAD_LETTER_KIND,
    ATTR_DEAD_LETTER_REASON,
    ATTR_DEAD_LETTERED_AT,
    ATTR_DELIVERY_ID,
    ATTR_EVENT_ID,
    ATTR_PROVIDER,
    ATTR_RECEIVED_AT,
    ATTR_REPLAY_COUNT,
    ATTR_TENANT,
    ATTR_TOPIC,
    DEAD_LETTER_ATTRIBUTES,
    DeadLetterKind,
    fit_attributes,
    from_sqs_attributes,
    to_sqs_attributes,
)
from handlers.stores.status_store import EventMeta, StatusStore
from stack.errors import HookstackError

PREVIEW_CHARS = 160
# Long enough to send + write status + delete one message, short enough that a killed replay's
# messages are back in the DLQ within a minute.
DEFAULT_VISIBILITY_SECONDS = 60
DEFAULT_MAX_MESSAGES = 10_000
# SQS FIFO message size cap (MaximumMessageSize may be lower; SendMessage then fails clearly).
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DeadLetter:
    """One message in the DLQ, as an operator needs to see it."""

    message_id: str
    event_id: str | None
    group: str
    reason: str | None
    kind: DeadLetterKind | None  # None: an attribute this version does not know
    dead_lettered_at: int | None
    tenant: str | None
    provider: str | None
    topic: str | None
    replay_count: int
    receive_count: int
    claim_check: bool
    body_bytes: int
    body_preview: str
    body: str = field(repr=False)
    attributes: dict[str, str] = field(default_factory=dict, repr=False)

    def as_dict(self, *, include_body: bool = False) -> dict[str, Any]:
        data = {
            name: getattr(self, name)
            for name in (
                "event_id",
                "group",
                "reason",
                "kind",
                "dead_lettered_at",
                "tenant",
                "provider",
                "topic",
                "replay_count",
                "receive_count",
                "claim_check",
                "body_bytes",
                "body_preview",
                "message_id",
            )
        }
        if include_body:
            data["body"] = self.body
            data["attributes"] = dict(self.attributes)
        return data


@dataclass
class ReplayResult:
    scanned: int = 0
    matched: int = 0
    replayed: int = 0
    would_replay: int = 0  # dry run
    failed: int = 0  # send failed: left in the DLQ
    delete_failed: int = 0  # sent, but still in the DLQ: a re-run re-sends a harmless duplicate
    status_failed: int = 0  # sent, status not set to REPLAYED (the worker's writes correct it)
    replayed_ids: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def dead_letter_from_message(message: dict[str, Any]) -> DeadLetter:
    attributes = from_sqs_attributes(message.get("MessageAttributes"))
    system = message.get("Attributes") or {}
    body = message.get("Body") or ""
    raw_kind = attributes.get(ATTR_DEAD_LETTER_KIND)
    reason = attributes.get(ATTR_DEAD_LETTER_REASON)
    kind: DeadLetterKind | None = DeadLetterKind(raw_kind) if raw_kind in set(DeadLetterKind) else None
    if raw_kind is None:
        # No worker attributes: SQS moved it here after maxReceiveCount receives.
        kind, reason = (
            DeadLetterKind.TRANSIENT,
            "retries exhausted (moved by SQS redrive); see the event status for the error",
        )
    return DeadLetter(
        message_id=message.get("MessageId", ""),
        event_id=attributes.get(ATTR_EVENT_ID),
        group=system.get("MessageGroupId", ""),
        reason=reason,
        kind=kind,
        dead_lettered_at=_int(attributes.get(ATTR_DEAD_LETTERED_AT), 0) or None,
        tenant=attributes.get(ATTR_TENANT),
        provider=attributes.get(ATTR_PROVIDER),
        topic=attributes.get(ATTR_TOPIC),
        replay_count=_int(attributes.get(ATTR_REPLAY_COUNT)),
        receive_count=_int(system.get("ApproximateReceiveCount"), 1),
        claim_check=attributes.get(ATTR_CLAIM_CHECK) == "1",
        body_bytes=len(body.encode("utf-8")),
        body_preview=body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1] + "…",
        body=body,
        attributes=attributes,
    )


@dataclass
class _Received:
    message: dict[str, Any]
    letter: DeadLetter


def receive_dead_letters(
    sqs: Any,
    dlq_url: str,
    *,
    visibility: int,
    max_messages: int,
    wait_seconds: int,
    empty_receives: int = 2,
    deadline_seconds: float = 300.0,
    done: Callable[[], bool] = lambda: False,
) -> Iterator[_Received]:
    """Yield DLQ messages (each hidden for ``visibility`` s) until the queue looks empty, the cap is
    reached, ``done()`` says so or the deadline passes. Bounded in count and time. Every received
    message is yielded (the caller must release those it does not consume): stopping happens
    between receives, never inside a batch."""
    yielded, empties = 0, 0
    deadline = time.monotonic() + deadline_seconds
    while yielded < max_messages and empties < empty_receives and time.monotonic() < deadline and not done():
        response = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, max_messages - yielded),
            VisibilityTimeout=visibility,
            WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            AttributeNames=["All"],
        )
        messages = response.get("Messages") or []
        if not messages:
            empties += 1
            continue
        empties = 0
        for message in messages:
            yielded += 1
            yield _Received(message, dead_letter_from_message(message))


def release_dead_letters(sqs: Any, dlq_url: str, received: Iterable[_Received]) -> None:
    """Make messages we looked at but did not replay visible again at once."""
    batch = [
        {"Id": str(index), "ReceiptHandle": item.message["ReceiptHandle"], "VisibilityTimeout": 0}
        for index, item in enumerate(received)
    ]
    for start in range(0, len(batch), 10):
        try:
            sqs.change_message_visibility_batch(QueueUrl=dlq_url, Entries=batch[start : start + 10])
        except Exception:  # noqa: BLE001 - releasing early is an optimisation: they reappear when visibility ends
            pass  # they reappear on their own when the visibility timeout ends


def list_dead_letters(sqs: Any, dlq_url: str, limit: int = 20, *, wait_seconds: int = 0) -> list[DeadLetter]:
    """Up to ``limit`` DLQ messages, left in the DLQ (received briefly, then released)."""
    if limit < 1:
        raise HookstackError("limit must be at least 1")
    seen = list(receive_dead_letters(sqs, dlq_url, visibility=30, max_messages=limit, wait_seconds=wait_seconds))
    release_dead_letters(sqs, dlq_url, seen)
    return [item.letter for item in seen]


def show(sqs: Any, dlq_url: str, event_id: str, *, scan_limit: int = 1000, wait_seconds: int = 0) -> DeadLetter:
    """The DLQ message of one event (full body and attributes), left in the DLQ."""
    seen: list[_Received] = []
    found: DeadLetter | None = None
    for item in receive_dead_letters(
        sqs,
        dlq_url,
        visibility=30,
        max_messages=scan_limit,
        wait_seconds=wait_seconds,
        done=lambda: found is not None,  # noqa: B023 - reads the latest on purpose
    ):
        seen.append(item)
        if found is None and item.letter.event_id == event_id:
            found = item.letter
    release_dead_letters(sqs, dlq_url, seen)
    if found is None:
        raise HookstackError(
            f"{event_id} is not in the dead-letter queue (scanned {len(seen)} messages; "
            "a FIFO group only shows its first messages while they are being looked at)"
        )
    return found


def replay_deduplication_id(event_id: str, replay_number: int, body: str) -> str:
    """Fresh per replay (never the original's, which SQS may still remember), stable across re-runs
    of the same replay so SQS drops a re-send within its window."""
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return hashlib.sha256(f"replay\n{event_id}\n{replay_number}\n{digest}".encode()).hexdigest()


def replay_attributes(letter: DeadLetter, replay_number: int, *, body_overridden: bool) -> dict[str, str]:
    """The original attributes minus the DLQ-only ones, plus the replay count."""
    values = {k: v for k, v in letter.attributes.items() if k not in DEAD_LETTER_ATTRIBUTES}
    if body_overridden:
        values.pop(ATTR_CLAIM_CHECK, None)  # the fixed body travels inline
    values[ATTR_REPLAY_COUNT] = str(replay_number)
    return fit_attributes(values)


def _meta(letter: DeadLetter) -> EventMeta | None:
    a = letter.attributes
    if not (letter.event_id and a.get(ATTR_TENANT) and a.get(ATTR_PROVIDER) and a.get(ATTR_TOPIC)):
        return None
    return EventMeta(
        letter.event_id,
        a[ATTR_TENANT],
        a[ATTR_PROVIDER],
        a[ATTR_TOPIC],
        a.get(ATTR_DELIVERY_ID, ""),
        letter.group,
        _int(a.get(ATTR_RECEIVED_AT), 0) or None,
    )


def replay(
    sqs: Any,
    dynamodb: Any,
    events_table: str,
    source_queue_url: str,
    dlq_url: str,
    *,
    ids: Iterable[str] | None = None,
    all: bool = False,
    dry_run: bool = False,
    body_override: bytes | None = None,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    visibility_seconds: int = DEFAULT_VISIBILITY_SECONDS,
    wait_seconds: int = 0,
) -> ReplayResult:
    """Re-inject dead letters into the source queue: the events in ``ids``, or every one with
    ``all=True``. ``body_override`` replaces the body of the (single) event being replayed."""
    wanted = set(ids or ())
    if all == bool(wanted):
        raise HookstackError("give either event ids or all=True")
    if body_override is not None:
        if all or len(wanted) != 1:
            raise HookstackError("a fixed body replaces exactly one event: give one id")
        if len(body_override) > MAX_BODY_BYTES:
            raise HookstackError(f"the fixed body is {len(body_override)} bytes; the queue accepts {MAX_BODY_BYTES}")
        try:
            override_text = body_override.decode("utf-8")
        except UnicodeDecodeError:
            raise HookstackError("the fixed body must be UTF-8 text") from None
    status = StatusStore(dynamodb, events_table)
    result = ReplayResult()
    untouched: list[_Received] = []
    remaining = set(wanted)
    replayed: set[str] = set()
    try:
        for item in receive_dead_letters(
            sqs,
            dlq_url,
            visibility=visibility_seconds,
            max_messages=max_messages,
            wait_seconds=wait_seconds,
            done=lambda: not all and not remaining,
        ):
            result.scanned += 1
            letter = item.letter
            # Replayed in this run and already back (failed again): leave it for the operator.
            if letter.event_id in replayed or (not all and letter.event_id not in remaining):
                untouched.append(item)
                continue
            result.matched += 1
            remaining.discard(letter.event_id or "")
            if dry_run:
                result.would_replay += 1
                untouched.append(item)
            else:
                body = override_text if body_override is not None else letter.body
                if _replay_one(sqs, status, source_queue_url, dlq_url, item, body, body_override is not None, result):
                    result.replayed_ids.append(letter.event_id or letter.message_id)
                    replayed.add(letter.event_id or letter.message_id)
                else:
                    untouched.append(item)
    finally:
        release_dead_letters(sqs, dlq_url, untouched)
    result.not_found = sorted(remaining)
    return result


def _replay_one(
    sqs: Any,
    status: StatusStore,
    source_queue_url: str,
    dlq_url: str,
    item: _Received,
    body: str,
    overridden: bool,
    result: ReplayResult,
) -> bool:
    letter = item.letter
    replay_number = letter.replay_count + 1
    try:
        sqs.send_message(
            QueueUrl=source_queue_url,
            MessageBody=body,
            MessageGroupId=letter.group,
            MessageDeduplicationId=replay_deduplication_id(letter.event_id or letter.message_id, replay_number, body),
            MessageAttributes=to_sqs_attributes(replay_attributes(letter, replay_number, body_overridden=overridden)),
        )
    except Exception as error:  # noqa: BLE001 - reported per letter: one failed send must not stop the replay of the rest
        result.failed += 1
        result.errors.append(f"{letter.event_id}: send failed: {error}")
        return False
    # Sent: from here on the source queue has it, whatever happens to the DLQ copy.
    result.replayed += 1
    meta = _meta(letter)
    if meta is not None:
        try:
            status.mark_replayed(meta, replay_number, int(time.time() * 1000))
        except Exception as error:  # noqa: BLE001 - reported per letter: the message is already back in the queue
            result.status_failed += 1
            result.errors.append(f"{letter.event_id}: status not set to REPLAYED: {error}")
    try:
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=item.message["ReceiptHandle"])
    except Exception as error:  # noqa: BLE001 - reported per letter: a re-run is safe
        result.delete_failed += 1
        result.errors.append(f"{letter.event_id}: sent but not deleted from the DLQ (a re-run is safe): {error}")
    return True
