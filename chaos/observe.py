"""What the drill reads back from the stage: status items, business writes (projections), the
per-group applied log, the DLQ's contents and the queues' depths — plus a timeline sampler.

Everything here only reads (the DLQ peek receives messages and releases them at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from handlers.platform.dynamodb_update import deserialize_item
from handlers.stores.projections import APPLIED_LOG_KIND
from handlers.stores.status_store import APPLIED_TO, Status
from stack.clients.events import Progress, read_status_items, wait_until_terminal
from stack.deploy.outputs import StackOutputs
from stack.ops.dlq import list_dead_letters


@dataclass(frozen=True)
class ProjectionItem:
    id: str
    writes: int
    applied_events: frozenset[str]

    @property
    def duplicate_writes(self) -> int:
        return max(0, self.writes - len(self.applied_events))


@dataclass(frozen=True)
class LogEntry:
    event_id: str
    generation: int
    at_ms: int


@dataclass(frozen=True)
class DeadLetterView:
    event_id: str
    reason: str
    kind: str
    group: str


@dataclass
class Observation:
    """A snapshot of the stage, restricted to the drill's events where that makes sense."""

    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    projections: list[ProjectionItem] = field(default_factory=list)
    applied_log: dict[str, list[LogEntry]] = field(default_factory=dict)  # group → entries in order
    dead_letters: dict[str, DeadLetterView] = field(default_factory=dict)
    dlq_peek_complete: bool = True
    queue_depth: int = 0
    dlq_depth: int = 0


def _number(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def queue_depths(sqs: Any, queue_url: str) -> tuple[int, int, int]:
    """(visible, in flight, delayed)."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return (
        _number(attributes.get("ApproximateNumberOfMessages")),
        _number(attributes.get("ApproximateNumberOfMessagesNotVisible")),
        _number(attributes.get("ApproximateNumberOfMessagesDelayed")),
    )


def scan_projections(dynamodb: Any, table: str, tenant: str) -> tuple[list[ProjectionItem], dict[str, list[LogEntry]]]:
    """Business items and applied logs of one tenant (a full scan: drill stages are small)."""
    items: list[ProjectionItem] = []
    logs: dict[str, list[LogEntry]] = {}
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**request)
        for raw in page.get("Items", []):
            item = deserialize_item(raw)
            if item.get("tenant") != tenant:
                continue
            if item.get("kind") == APPLIED_LOG_KIND:
                logs[str(item.get("group", ""))] = [
                    LogEntry(str(e.get("event_id")), _number(e.get("generation")), _number(e.get("at_ms")))
                    for e in item.get("entries") or []
                ]
                continue
            items.append(
                ProjectionItem(
                    str(item["id"]),
                    _number(item.get("writes")),
                    frozenset(str(e) for e in item.get("applied_events") or ()),
                )
            )
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items, logs


def with_applied_events(items: list[ProjectionItem], statuses: dict[str, dict[str, Any]]) -> list[ProjectionItem]:
    """The worker records which business item an event was applied to on the event's status item
    (``applied_to``), in the same transaction as the business write: add those events to each item
    (items written by earlier releases list their events themselves)."""
    applied: dict[str, set[str]] = {}
    for event_id, status in statuses.items():
        if status.get(APPLIED_TO):
            applied.setdefault(str(status[APPLIED_TO]), set()).add(event_id)
    return [replace(item, applied_events=item.applied_events | applied.get(item.id, set())) for item in items]


class Observer:
    def __init__(self, outputs: StackOutputs, tenant: str):
        self.outputs = outputs
        self.tenant = tenant
        self.sqs = outputs.client("sqs")
        self.dynamodb = outputs.client("dynamodb")
        embedded = outputs.target == "embedded"
        # SQS's queue counts are approximate on AWS and a short-poll receive samples only some
        # servers: settle longer and long-poll the DLQ there.
        self.quiet_s = 1.5 if embedded else 10.0
        self.receive_wait_s = 0 if embedded else 2

    def statuses(self, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return read_status_items(self.dynamodb, self.outputs.events_table, sorted(set(event_ids)))

    def depth(self) -> int:
        return sum(queue_depths(self.sqs, self.outputs.queue_url))

    def dlq_depth(self) -> int:
        visible, in_flight, delayed = queue_depths(self.sqs, self.outputs.dlq_url)
        return visible + in_flight + delayed

    def peek_dead_letters(self, limit: int = 500) -> tuple[dict[str, DeadLetterView], bool]:
        """The DLQ's messages (left in place). Complete unless a FIFO group hides some (SQS shows a
        group's later messages only once its first ones are done with)."""
        depth = self.dlq_depth()
        if depth == 0:
            return {}, True
        letters = list_dead_letters(self.sqs, self.outputs.dlq_url, limit=limit, wait_seconds=self.receive_wait_s)
        views = {
            letter.event_id or letter.message_id: DeadLetterView(
                letter.event_id or letter.message_id, letter.reason or "", letter.kind or "", letter.group
            )
            for letter in letters
        }
        return views, len(letters) >= depth

    def snapshot(self, event_ids: Iterable[str]) -> Observation:
        ids = sorted(set(event_ids))
        projections, logs = scan_projections(self.dynamodb, self.outputs.projections_table, self.tenant)
        dead_letters, complete = self.peek_dead_letters()
        statuses = self.statuses(ids)
        return Observation(
            statuses=statuses,
            projections=with_applied_events(projections, statuses),
            applied_log=logs,
            dead_letters=dead_letters,
            dlq_peek_complete=complete,
            queue_depth=self.depth(),
            dlq_depth=self.dlq_depth(),
        )

    def wait_settled(
        self,
        event_ids: Iterable[str],
        timeout_s: float,
        *,
        quiet_s: float | None = None,
        on_poll: Callable[[int, int, int], None] = lambda final, total, depth: None,
    ) -> bool:
        """Until the source queue is empty (nothing queued or in flight) and the drill's statuses
        stop changing for ``quiet_s``; or every event is final and the queue empty. Bounded."""
        quiet = self.quiet_s if quiet_s is None else quiet_s
        depth = 0
        last: dict[str, str] | None = None
        stable_since = time.monotonic()

        def read(pending: Sequence[str]) -> Iterable[dict[str, Any]]:
            nonlocal depth
            depth = self.depth()  # final statuses do not change: only the pending ones are read
            return self.statuses(pending).values()

        def settled(progress: Progress) -> bool:
            nonlocal last, stable_since
            on_poll(progress.terminal, progress.total, depth)
            current = {i: str(item.get("status")) for i, item in progress.items.items()}
            if current != last:
                last, stable_since = current, time.monotonic()
            return depth == 0 and (not progress.pending or time.monotonic() - stable_since >= quiet)

        waited = wait_until_terminal(read, sorted(set(event_ids)), timeout_s=timeout_s, until=settled)
        return not waited.timed_out


@dataclass
class Sample:
    t: float
    queue_visible: int
    queue_in_flight: int
    dlq: int
    processed: int
    dead_lettered: int


class Timeline:
    """Samples queue and DLQ depth and the drill's outcomes every ``interval_s`` in a thread, and
    records marks (faults on/off, phases)."""

    def __init__(self, observer: Observer, interval_s: float = 0.5):
        self._observer = observer
        self._interval_s = interval_s
        self._event_ids: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = time.time()
        self.samples: list[Sample] = []
        self.marks: list[dict[str, Any]] = []
        self.errors = 0

    def now(self) -> float:
        return round(time.time() - self.started, 3)

    def track(self, event_ids: Iterable[str]) -> None:
        with self._lock:
            self._event_ids = sorted(set(self._event_ids) | set(event_ids))

    def mark(self, kind: str, detail: str = "", **extra: Any) -> None:
        self.marks.append({"t": self.now(), "kind": kind, "detail": detail, **extra})

    def _sample(self) -> None:
        with self._lock:
            ids = list(self._event_ids)
        visible, in_flight, delayed = queue_depths(self._observer.sqs, self._observer.outputs.queue_url)
        statuses = self._observer.statuses(ids) if ids else {}
        self.samples.append(
            Sample(
                self.now(),
                visible + delayed,
                in_flight,
                self._observer.dlq_depth(),
                sum(1 for s in statuses.values() if s.get("status") == Status.PROCESSED),
                sum(1 for s in statuses.values() if s.get("status") == Status.DEAD_LETTERED),
            )
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._sample()
            except Exception:  # noqa: BLE001 - a missed sample is a gap in the plot, not a failed drill
                self.errors += 1  # a missed sample is a gap in the plot, not a failed drill
            self._stop.wait(self._interval_s)

    def start(self) -> Timeline:
        self._thread = threading.Thread(target=self._run, name="chaos-timeline", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self._sample()  # the final state
        except Exception:  # noqa: BLE001 - the final sample is best effort, like every other
            self.errors += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started,
            "samples": [s.__dict__ for s in self.samples],
            "marks": self.marks,
            "sample_errors": self.errors,
        }
