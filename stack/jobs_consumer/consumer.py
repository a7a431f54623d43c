"""The consumer loop: ``concurrency`` worker threads, each long-polling the jobs queue for one
message at a time and running it (:mod:`.runner`), until told to stop.

Every run is bounded by a signal, ``max_jobs`` or ``idle_exit_s``. On SIGINT/SIGTERM the workers
take no new message; jobs in flight get ``grace_s`` to finish; a job still running then is
redelivered once its visibility runs out (a second signal quits at once). A worker in its long
poll when the stop comes ends with that poll (at most ``wait_s``); a message it receives then is
made visible again at once, not run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from stack.errors import UsageError
from stack.jobs_consumer.handler import JobFunction
from stack.jobs_consumer.runner import JobRunner, RunSettings, consumer_id
from stack.jobs_consumer.stage import JobsStage
from stack.jobs_consumer.stats import ConsumerStats, JobOutcome, Outcome

log = logging.getLogger("stack.jobs_consumer")

# Threads share one boto3 client per service, whose connection pool holds 32 (stack.deploy.targets).
MAX_CONCURRENCY = 32
LONG_POLL_S = 20  # SQS's longest wait
RECEIVE_ERROR_BACKOFF_S = 1.0
TICKET_WAIT_S = 1.0  # a worker waiting for a --max-jobs ticket looks again this often
JOIN_POLL_S = 0.2  # how often the main thread looks at its workers (and lets a signal in)
POLL_MARGIN_S = 5.0  # beyond WaitTimeSeconds, for a receive's round trip


@dataclass(frozen=True)
class ConsumerOptions:
    concurrency: int = 1
    max_jobs: int | None = None  # stop after this many jobs (messages that parsed as jobs)
    idle_exit_s: float | None = None  # stop once nothing was received or ran for this long
    max_job_s: float = 900.0  # a job's deadline, from its receipt: past it, abandoned to redelivery
    grace_s: float = 30.0  # on a stop, how long jobs in flight may still run
    wait_s: int = LONG_POLL_S  # ReceiveMessage's WaitTimeSeconds

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise UsageError(f"--concurrency {self.concurrency}: expected 1 to {MAX_CONCURRENCY}")
        if self.max_jobs is not None and self.max_jobs < 1:
            raise UsageError(f"--max-jobs {self.max_jobs}: expected at least 1")
        if self.idle_exit_s is not None and not self.idle_exit_s > 0:
            raise UsageError(f"--idle-exit {self.idle_exit_s:g}: expected more than 0 seconds")
        if not self.max_job_s > 0:
            raise UsageError(f"--max-job-seconds {self.max_job_s:g}: expected more than 0 seconds")
        if not self.grace_s >= 0:
            raise UsageError(f"--grace-seconds {self.grace_s:g}: expected 0 or more seconds")
        if not 0 <= self.wait_s <= LONG_POLL_S:
            raise UsageError(f"wait {self.wait_s}: expected 0 to {LONG_POLL_S} seconds")


class _JobTickets:
    """``--max-jobs`` across the workers: a worker holds a ticket while it receives, keeps it for a
    job, and gives it back when it received nothing (or an unreadable message)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._held = 0
        self._spent = 0
        self._changed = threading.Condition()

    def take(self, stopping: threading.Event) -> bool:
        """A ticket (True), or False once every ticket is spent or the consumer stops."""
        with self._changed:
            while not stopping.is_set():
                if self.limit is None:
                    return True
                if self._spent >= self.limit:
                    return False
                if self._spent + self._held < self.limit:
                    self._held += 1
                    return True
                self._changed.wait(TICKET_WAIT_S)
            return False

    def give_back(self) -> None:
        with self._changed:
            if self.limit is not None:
                self._held -= 1
                self._changed.notify_all()

    def spend(self) -> None:
        with self._changed:
            if self.limit is not None:
                self._held -= 1
                self._spent += 1
                self._changed.notify_all()

    def all_spent(self) -> bool:
        with self._changed:
            return self.limit is not None and self._spent >= self.limit


class Consumer:
    def __init__(
        self,
        stage: JobsStage,
        function: JobFunction,
        options: ConsumerOptions,
        *,
        observe: Callable[[JobOutcome], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stage = stage
        self.options = options
        self.observe = observe
        self.clock = clock
        self.stats = ConsumerStats()
        self.visibility_timeout_s = queue_visibility_timeout(stage.sqs, stage.jobs_queue_url)
        self.runner = JobRunner(stage, function, RunSettings(self.visibility_timeout_s, options.max_job_s), clock=clock)
        self._stopping = threading.Event()
        self._tickets = _JobTickets(options.max_jobs)
        self._lock = threading.Lock()
        self._running = 0
        self._last_activity = clock()

    # --- control ---

    def stop(self) -> None:
        """Take no new message (safe from a signal handler and from any thread)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def running_jobs(self) -> int:
        with self._lock:
            return self._running

    def run(self) -> ConsumerStats:
        """Run the workers until a stop, ``max_jobs`` or ``idle_exit_s``; the counts. After a stop,
        jobs in flight get ``grace_s`` and receives in their long poll end within ``wait_s``:
        returns once every worker has ended, or when those bounds have passed."""
        workers = [
            threading.Thread(target=self._work, name=f"worker-{n}", daemon=True)
            for n in range(1, self.options.concurrency + 1)
        ]
        for worker in workers:
            worker.start()
        while any(w.is_alive() for w in workers) and not self.stopping:
            self._stopping.wait(JOIN_POLL_S)
        stopped_at = self.clock()
        jobs_end, polls_end = stopped_at + self.options.grace_s, stopped_at + self.options.wait_s + POLL_MARGIN_S
        while any(w.is_alive() for w in workers):
            now = self.clock()
            if now >= (jobs_end if self.running_jobs else polls_end):
                break
            time.sleep(JOIN_POLL_S)
        if self.running_jobs:
            log.warning("%d job(s) still running after the grace period: redelivered later", self.running_jobs)
        return self.stats

    # --- workers ---

    def _idle_left_s(self) -> float | None:
        """Seconds before ``idle_exit_s`` stops the consumer; None when it has no idle bound."""
        if self.options.idle_exit_s is None:
            return None
        with self._lock:
            if self._running:
                return self.options.idle_exit_s
            return self.options.idle_exit_s - (self.clock() - self._last_activity)

    def _receive_wait_s(self) -> int | None:
        """WaitTimeSeconds for the next receive; None when the consumer has been idle long enough."""
        idle_left = self._idle_left_s()
        if idle_left is None:
            return self.options.wait_s
        if idle_left <= 0:
            return None
        return min(self.options.wait_s, math.ceil(idle_left))

    def _receive(self, wait_s: int) -> list[dict[str, Any]]:
        try:
            answer = self.stage.sqs.receive_message(
                QueueUrl=self.stage.jobs_queue_url,
                MaxNumberOfMessages=1,
                WaitTimeSeconds=wait_s,
                AttributeNames=["ApproximateReceiveCount"],
            )
        except Exception as exc:  # noqa: BLE001  (SQS unreachable: count it, back off, poll again)
            self.stats.receive_failed()
            log.warning("ReceiveMessage failed: %r", exc)
            self._stopping.wait(RECEIVE_ERROR_BACKOFF_S)
            return []
        return list(answer.get("Messages", []))

    def _release(self, message: dict[str, Any]) -> None:
        """A message received after the stop: visible again now, for another consumer."""
        with contextlib.suppress(Exception):  # at worst it shows after its visibility timeout
            self.stage.sqs.change_message_visibility(
                QueueUrl=self.stage.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def _work(self) -> None:
        me = consumer_id()
        while not self.stopping:
            wait_s = self._receive_wait_s()
            if wait_s is None:
                log.info("idle for %g s: stopping", self.options.idle_exit_s)
                self.stop()
                return
            if not self._tickets.take(self._stopping):
                if self._tickets.all_spent():
                    self.stop()
                return
            messages = self._receive(wait_s)
            if not messages:
                self._tickets.give_back()
                continue
            if self.stopping:
                self._tickets.give_back()
                self._release(messages[0])
                return
            self._run_one(messages[0], me)

    def _run_one(self, message: dict[str, Any], me: str) -> None:
        received_at = self.clock()
        with self._lock:
            self._running += 1
        try:
            outcome = self.runner.run(message, received_at, me)
        except Exception as exc:  # noqa: BLE001  (a bug in one run must not end the worker: the message comes back)
            log.error("message %s: left for redelivery after %r", message.get("MessageId", "?"), exc, exc_info=True)
            outcome = JobOutcome(Outcome.LEFT, None, str(message.get("MessageId", "?")), self.clock() - received_at)
        finally:
            with self._lock:
                self._running -= 1
                self._last_activity = self.clock()
        if outcome.outcome is Outcome.UNREADABLE:
            self._tickets.give_back()
        else:
            self._tickets.spend()
        self.stats.record(outcome)
        if self.observe is not None:
            self.observe(outcome)


def queue_visibility_timeout(sqs: Any, queue_url: str) -> int:
    """The queue's own visibility timeout, the one every receive gets (not a config value: the
    consumer may run where the stage's config is not)."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    return int(attributes["VisibilityTimeout"])


@contextlib.contextmanager
def stopped_by_signals(consumer: Consumer, on_stop: Callable[[], None] | None = None) -> Iterator[None]:
    """SIGINT/SIGTERM stop the consumer cleanly; a second one quits at once (KeyboardInterrupt).
    Only the main thread may set handlers: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if consumer.stopping:
            raise KeyboardInterrupt
        consumer.stop()
        if on_stop is not None:
            on_stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
