"""After the load: did every acknowledged event get processed, and how long did it take?

Reads the events table (status items, see docs/architecture.md) for the event ids the run got
a 2xx for, polling until each is PROCESSED or DEAD_LETTERED or the drain timeout passes
(``stack.clients.events``), while a sampler records the queue and DLQ depth over time. The table
scan and the clock are injected, so the polling logic is tested without AWS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from handlers.stores.status_store import Status
from stack.clients.events import Progress, wait_until_terminal


@dataclass
class BacklogSample:
    t: float  # epoch seconds
    visible: int
    in_flight: int
    dlq_visible: int
    dlq_in_flight: int

    def as_list(self) -> list[float]:
        return [round(self.t, 3), self.visible, self.in_flight, self.dlq_visible, self.dlq_in_flight]


class BacklogSampler:
    """Samples ApproximateNumberOfMessages(+NotVisible) of the queue and DLQ in a thread."""

    def __init__(self, sqs: Any, queue_url: str, dlq_url: str, *, interval: float = 1.0, max_seconds: float = 3600.0):
        self._sqs, self._queue_url, self._dlq_url = sqs, queue_url, dlq_url
        self._interval, self._max_seconds = interval, max_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backlog-sampler", daemon=True)
        self.samples: list[BacklogSample] = []
        self.errors: list[str] = []

    def _depth(self, url: str) -> tuple[int, int]:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0)), int(
            attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    def sample(self) -> BacklogSample | None:
        try:
            visible, in_flight = self._depth(self._queue_url)
            dlq_visible, dlq_in_flight = self._depth(self._dlq_url)
        except Exception as exc:  # noqa: BLE001 - boto3 raises many types; a missed sample must not end the run
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        sample = BacklogSample(time.time(), visible, in_flight, dlq_visible, dlq_in_flight)
        self.samples.append(sample)
        return sample

    def latest(self) -> BacklogSample | None:
        return self.samples[-1] if self.samples else None

    def _run(self) -> None:
        deadline = time.monotonic() + self._max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.sample()
            self._stop.wait(self._interval)

    def start(self) -> BacklogSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class DrainResult:
    accepted: int
    processed: int = 0
    dead_lettered: int = 0
    missing_no_record: int = 0
    missing_unfinished: int = 0
    e2e_ms: list[float] = field(default_factory=list)  # processed_at - received_at
    worker_ms: list[float] = field(default_factory=list)  # processed_at - processing_at
    dead_letter_ms: list[float] = field(default_factory=list)
    terminal_at_ms: list[float] = field(default_factory=list)  # when each event reached its final status
    last_terminal_ms: float | None = None
    timed_out: bool = False
    waited_s: float = 0.0
    scans: int = 0

    @property
    def missing(self) -> int:
        return self.missing_no_record + self.missing_unfinished


def summarize_items(found: dict[str, dict[str, Any]], acked: set[str]) -> DrainResult:
    result = DrainResult(accepted=len(acked))
    last = None
    for event_id in acked:
        item = found.get(event_id)
        if item is None:
            result.missing_no_record += 1
            continue
        status = item.get("status")
        received = item.get("received_at")
        if status == Status.PROCESSED:
            result.processed += 1
            done = item.get("processed_at")
            if isinstance(received, int | float) and isinstance(done, int | float):
                result.e2e_ms.append(float(done - received))
            started = item.get("processing_at")
            if isinstance(started, int | float) and isinstance(done, int | float) and done >= started:
                result.worker_ms.append(float(done - started))
        elif status == Status.DEAD_LETTERED:
            result.dead_lettered += 1
            done = item.get("dead_lettered_at")
            if isinstance(received, int | float) and isinstance(done, int | float):
                result.dead_letter_ms.append(float(done - received))
        else:
            result.missing_unfinished += 1
            continue
        if isinstance(done, int | float):
            result.terminal_at_ms.append(float(done))
            last = done if last is None else max(last, done)
    result.last_terminal_ms = last
    return result


def wait_for_drain(
    scan: Callable[[], Iterable[dict[str, Any]]],
    acked: set[str],
    *,
    timeout: float,
    min_interval: float = 2.0,
    on_poll: Callable[[DrainResult], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainResult:
    """Poll ``scan`` until every id in ``acked`` is terminal, or ``timeout`` seconds pass.

    Scans are spaced at least ``min_interval`` and at least twice the last scan's duration, so
    reading the table never takes more than a third of the target's time while it drains.
    """

    def drained(progress: Progress) -> DrainResult:
        result = summarize_items(progress.items, acked)
        result.scans, result.waited_s, result.timed_out = progress.reads, progress.waited_s, progress.timed_out
        return result

    progress = wait_until_terminal(
        lambda _pending: scan(),
        acked,
        timeout_s=timeout,
        min_interval_s=min_interval,
        on_poll=None if on_poll is None else lambda p: on_poll(drained(p)),
        clock=clock,
        sleep=sleep,
    )
    return drained(progress)
