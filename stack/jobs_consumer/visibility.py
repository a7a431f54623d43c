"""The heartbeat: while a job runs, its message is kept invisible (ChangeMessageVisibility), so
a queue visibility timeout shorter than the job never hands it to another consumer; up to the
job's deadline (``--max-job-seconds``), after which it is abandoned to redelivery.

:class:`VisibilityPlan` decides (pure, on any clock); :class:`Heartbeat` acts on it in a thread.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("stack.jobs_consumer")

# Extend when a third of the timeout has passed since the last extension: two more chances before
# the message would show, should one call fail.
BEAT_FRACTION = 1 / 3
MIN_BEAT_INTERVAL_S = 1.0
# After a failed ChangeMessageVisibility, try again this soon (or at the next beat, if sooner).
RETRY_AFTER_S = 2.0


@dataclass
class VisibilityPlan:
    """When one message's visibility is extended, and by how much. Times are on the caller's clock."""

    timeout_s: int  # the queue's visibility timeout: what each extension grants
    deadline: float  # received + max job seconds: no extension reaches past it
    visible_at: float  # when the message shows again unless extended
    next_beat: float

    @classmethod
    def starting(cls, received_at: float, timeout_s: int, max_job_s: float) -> VisibilityPlan:
        plan = cls(timeout_s, received_at + max_job_s, received_at + timeout_s, received_at)
        plan.next_beat = received_at + plan.interval_s
        return plan

    @property
    def interval_s(self) -> float:
        return max(MIN_BEAT_INTERVAL_S, self.timeout_s * BEAT_FRACTION)

    def covered(self) -> bool:
        """The message stays invisible until the deadline: no more extension is needed."""
        return self.visible_at >= self.deadline

    def abandoned(self, now: float) -> bool:
        return now >= self.deadline

    def extension_due(self, now: float) -> int | None:
        """The VisibilityTimeout to set now (seconds from now, as SQS takes it), or None."""
        if self.covered() or self.abandoned(now) or now < self.next_beat:
            return None
        return max(1, min(self.timeout_s, math.ceil(self.deadline - now)))

    def extended(self, now: float, seconds: int) -> None:
        self.visible_at = now + seconds
        self.next_beat = now + self.interval_s

    def extension_failed(self, now: float) -> None:
        self.next_beat = now + min(RETRY_AFTER_S, self.interval_s)

    def wake_at(self) -> float:
        """When there is something to do next: a beat, or else the deadline (to log the abandon)."""
        return self.deadline if self.covered() else min(self.next_beat, self.deadline)


class Heartbeat:
    """Runs a :class:`VisibilityPlan` for one message in a thread, from ``with`` to its end."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        receipt_handle: str,
        plan: VisibilityPlan,
        label: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.receipt_handle = receipt_handle
        self.plan = plan
        self.label = label
        self.clock = clock
        self.extensions = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self, now: float) -> bool:
        """Extend if due; False once the deadline has passed (the job is abandoned)."""
        if self.plan.abandoned(now):
            return False
        seconds = self.plan.extension_due(now)
        if seconds is None:
            return True
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=self.receipt_handle, VisibilityTimeout=seconds
            )
        except Exception as exc:  # noqa: BLE001  (any failure: retry soon; the message may show meanwhile)
            log.warning("%s: ChangeMessageVisibility failed: %r", self.label, exc)
            self.plan.extension_failed(now)
            return True
        self.plan.extended(now, seconds)
        self.extensions += 1
        return True

    def _run(self) -> None:
        # Bounded: ends with the job (``_done``) or at the deadline.
        while self.beat(self.clock()):
            if self._done.wait(max(0.0, self.plan.wake_at() - self.clock())):
                return
        if not self._done.is_set():
            log.warning(
                "%s: still running past its deadline: abandoned to redelivery (its visibility is no longer "
                "extended; its result will be dropped)",
                self.label,
            )

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {self.label}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
