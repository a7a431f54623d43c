"""What became of each message a consumer took, and the counts it prints at exit."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from enum import StrEnum


class Outcome(StrEnum):
    SUCCEEDED = "SUCCEEDED"  # result sent, message deleted (unless the delete failed: it runs again)
    FAILED = "FAILED"  # the function raised, or its result or an attachment was unusable; reported
    ABANDONED = "ABANDONED"  # past --max-job-seconds: nothing sent, redelivered
    LEFT = "LEFT"  # could not report (the response queue refused) or fetch: redelivered, nothing deleted
    UNREADABLE = "UNREADABLE"  # not a JobMessage: left, to reach the DLQ after maxReceiveCount


@dataclass(frozen=True)
class JobOutcome:
    outcome: Outcome
    job_id: str | None  # None when the body could not be read
    message_id: str
    duration_s: float
    reason: str | None = None
    deleted: bool = False

    def describe(self) -> str:
        what = self.job_id or f"message {self.message_id}"
        line = f"{what} {self.outcome} in {self.duration_s:.2f} s"
        if self.reason:
            line += f": {self.reason}"
        return line


@dataclass
class ConsumerStats:
    """Counts over every worker thread (each ``record`` takes the lock)."""

    run: int = 0  # jobs whose function was called or whose attachments failed them
    succeeded: int = 0
    failed: int = 0
    abandoned: int = 0
    left: int = 0
    unreadable: int = 0
    delete_failures: int = 0
    receive_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, outcome: JobOutcome) -> None:
        with self._lock:
            if outcome.outcome is Outcome.UNREADABLE:
                self.unreadable += 1
                return
            if outcome.outcome is Outcome.LEFT:
                self.left += 1
                return
            self.run += 1
            if outcome.outcome is Outcome.SUCCEEDED:
                self.succeeded += 1
            elif outcome.outcome is Outcome.FAILED:
                self.failed += 1
            else:
                self.abandoned += 1
            if not outcome.deleted and outcome.outcome is not Outcome.ABANDONED:
                self.delete_failures += 1

    def receive_failed(self) -> None:
        with self._lock:
            self.receive_errors += 1

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def summary(self) -> str:
        counts = self.as_dict()
        line = (
            f"{counts['run']} job(s) run: {counts['succeeded']} succeeded, {counts['failed']} failed, "
            f"{counts['abandoned']} abandoned"
        )
        extras = [
            f"{counts[key]} {label}"
            for key, label in (
                ("left", "left for redelivery"),
                ("unreadable", "unreadable message(s) left"),
                ("delete_failures", "failed delete(s)"),
                ("receive_errors", "failed receive(s)"),
            )
            if counts[key]
        ]
        return "; ".join([line, *extras])
