"""One SQS event source mapping, polled as Lambda polls it.

- Receivers scale with the backlog: one long-polls all the time; each receive that returns a
  full batch starts one more receiver, up to the concurrency limit (``MaximumConcurrency``, the
  function's reserved concurrency, the local pool); a receiver that finds nothing retires.
  So at most ``limit`` batches are in flight, and on a FIFO queue no more than there are
  active message groups: SQS hides a group while any of its messages is in flight, so two
  batches never hold one group and order within a group holds across retries.
- A batch is one invocation. The answer decides what is deleted (``ReportBatchItemFailures``,
  :mod:`.records`); a function error, crash or timeout deletes nothing: the whole batch
  comes back after the visibility timeout and redrive to the DLQ stays SQS's job.
- A disabled mapping takes no new batch; batches in flight finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence

from stack.embedded.event_plane.mappings import MappingSettings, QueueMapping
from stack.embedded.event_plane.queue_client import QueueClient
from stack.embedded.event_plane.records import BatchOutcome, ReceivedMessage, answer_outcome, sqs_event
from stack.embedded.event_plane.stats import MappingStats
from stack.embedded.gateway.gateway import new_request_id
from stack.embedded.gateway.pool import FunctionPool, InvocationFailed

log = logging.getLogger("stack.embedded.event_plane")

# Long poll of the receiver that always runs. Lambda waits 20 s; a shorter wait costs a few
# more idle calls and lets a disable or a shutdown take effect within it.
LONG_POLL_S = 2
RECEIVE_MAX = 10  # SQS's ReceiveMessage limit
# A batching window refills with short receives this far apart while it is open.
WINDOW_REFILL_GAP_S = 0.05
# After a failed ReceiveMessage (emulator restarting, say), wait before the next.
RECEIVE_ERROR_BACKOFF_S = 1.0
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class QueuePoller:
    def __init__(self, mapping: QueueMapping, pool: FunctionPool, queue: QueueClient, region: str) -> None:
        self.mapping = mapping
        self.settings = mapping.settings
        self.pool = pool
        self.queue = queue
        self.region = region
        self.stats = MappingStats()
        self._receivers: set[asyncio.Task[None]] = set()
        self._settings_changed = asyncio.Event()
        self._stopping = False

    # --- control ---

    @property
    def concurrency_limit(self) -> int:
        limit = min(self.settings.maximum_concurrency, self.pool.size)
        reserved = self.mapping.function.reserved_concurrency
        return min(limit, reserved) if reserved is not None else limit

    @property
    def receivers(self) -> int:
        return len(self._receivers)

    def start(self) -> None:
        self._spawn(base=True)

    def update(self, settings: MappingSettings) -> None:
        if settings != self.settings:
            log.info("mapping %s: %s -> %s", self.mapping.label, self.settings, settings)
            self.settings = settings
            self._settings_changed.set()

    async def stop(self) -> None:
        """Stop receiving, let batches in flight finish (they are bounded by the function timeout)."""
        self._stopping = True
        self._settings_changed.set()
        if self._receivers:
            await asyncio.wait(set(self._receivers), timeout=self.mapping.function.timeout_s + 5)
        for task in list(self._receivers):
            task.cancel()

    # --- receivers ---

    def _spawn(self, base: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._receive_loop(base))
        self._receivers.add(task)
        task.add_done_callback(self._receivers.discard)

    async def _wait_settings_change(self, timeout_s: float) -> None:
        self._settings_changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settings_changed.wait(), timeout_s)

    async def _receive_loop(self, base: bool) -> None:
        while not self._stopping:
            if not self.settings.enabled or self.concurrency_limit <= 0:
                if not base:
                    return
                await self._wait_settings_change(LONG_POLL_S)
                continue
            try:
                messages = await self._next_batch(LONG_POLL_S if base else 0)
            except Exception as exc:  # noqa: BLE001  (any failure to reach SQS: count it, back off, poll again)
                self.stats.receive_errors += 1
                log.warning("mapping %s: ReceiveMessage failed: %r", self.mapping.label, exc)
                if not base:
                    return
                await asyncio.sleep(RECEIVE_ERROR_BACKOFF_S)
                continue
            if not messages:
                if not base:
                    return
                continue
            # A full batch means more is waiting: one more receiver. A partial one took all there
            # was to take (on FIFO, what no batch in flight holds): another would find nothing, and
            # each receive is a call on the emulator's one core.
            if (
                len(messages) >= self.settings.batch_size
                and self.receivers < self.concurrency_limit
                and not self._stopping
            ):
                self._spawn(base=False)
            await self._run_batch(messages)

    async def _receive(self, max_messages: int, wait_s: int) -> list[ReceivedMessage]:
        started = time.perf_counter()
        messages = await self.queue.receive(self.mapping.queue_url, max_messages, wait_s)
        self.stats.poll_ms.append((time.perf_counter() - started) * 1000)
        self.stats.receive_calls += 1
        if not messages:
            self.stats.empty_receives += 1
        return messages

    async def _next_batch(self, wait_s: int) -> list[ReceivedMessage]:
        """One batch: a single receive, or (standard queues with a window or BatchSize > 10)
        receives until the batch is full or the window closes."""
        size = self.settings.batch_size
        messages = await self._receive(min(RECEIVE_MAX, size), wait_s)
        window = self.settings.batching_window_s
        if not messages or self.mapping.fifo or (window <= 0 and size <= RECEIVE_MAX):
            return messages
        closes = time.monotonic() + window
        while len(messages) < size and time.monotonic() < closes and not self._stopping:
            more = await self._receive(min(RECEIVE_MAX, size - len(messages)), 0)
            if more:
                messages.extend(more)
            else:
                await asyncio.sleep(min(WINDOW_REFILL_GAP_S, max(0.0, closes - time.monotonic())))
        return messages

    # --- one batch ---

    async def _run_batch(self, messages: Sequence[ReceivedMessage]) -> None:
        groups = [g for g in dict.fromkeys(m.group_id for m in messages) if g is not None]
        self.stats.records += len(messages)
        self.stats.batch_started(groups)
        deleted = 0
        outcome: BatchOutcome | None = None
        try:
            outcome = await self._invoke(messages)
            if outcome.reason is not None:
                self.stats.batches_failed[outcome.reason.split(":", 1)[0]] += 1
                log.warning(
                    "mapping %s: batch of %d left for redelivery: %s", self.mapping.label, len(messages), outcome.reason
                )
            refused = await self.queue.delete(self.mapping.queue_url, outcome.delete)
            self.stats.delete_failures += refused
            deleted = len(outcome.delete) - refused
        except Exception as exc:  # noqa: BLE001  (a failed delete: the messages come back after their visibility timeout)
            log.warning("mapping %s: DeleteMessageBatch failed: %r", self.mapping.label, exc)
            self.stats.delete_failures += len(outcome.delete) if outcome is not None else 0
        finally:
            self.stats.batch_finished(groups, deleted, len(outcome.retry) if outcome is not None else 0)

    async def _invoke(self, messages: Sequence[ReceivedMessage]) -> BatchOutcome:
        event = _encode(sqs_event(messages, self.mapping.queue_arn, self.region)).encode()
        started = time.perf_counter()
        invocation = self.pool.submit(new_request_id(), event)
        try:
            result = await invocation.future
        except InvocationFailed as exc:
            return BatchOutcome.whole_batch_failed(messages, f"{exc.kind}: {exc}")
        finally:
            self.stats.invoke_ms.append((time.perf_counter() - started) * 1000)
        if not result.ok:
            error = result.error or {}
            return BatchOutcome.whole_batch_failed(
                messages, f"function error: {error.get('errorType')}: {error.get('errorMessage')}"
            )
        return answer_outcome(messages, result.payload, self.settings.report_batch_item_failures)
