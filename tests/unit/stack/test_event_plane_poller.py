"""The event plane's poller over an in-memory FIFO queue and a fake function pool.

The fake queue keeps SQS FIFO's rule that matters here: while a message of a group is in
flight, no message of that group is returned; a message not deleted comes back after its
visibility timeout. The fake pool runs a Python function for each batch after a short delay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stack.embedded.event_plane import poller as poller_module
from stack.embedded.event_plane.mappings import MappingSettings, QueueMapping
from stack.embedded.event_plane.poller import QueuePoller
from stack.embedded.event_plane.records import ReceivedMessage
from stack.embedded.gateway.definition import FunctionSpec
from stack.embedded.gateway.pool import FailureKind, InvocationFailed, InvocationResult

VISIBILITY_S = 0.2
RUN_LIMIT_S = 10.0


@pytest.fixture(autouse=True)
def short_long_poll(monkeypatch):
    # A stop waits out the long poll in flight: keep it short here.
    monkeypatch.setattr(poller_module, "LONG_POLL_S", 0.2)


@dataclasses.dataclass
class Stored:
    message_id: str
    group: str
    body: str
    visible_at: float = 0.0
    receives: int = 0
    receipt: str | None = None


class FakeFifoQueue:
    def __init__(self) -> None:
        self.messages: list[Stored] = []
        self.ids = itertools.count()
        self.receive_calls = 0

    def send(self, group: str, body: dict[str, Any]) -> None:
        self.messages.append(Stored(f"m{next(self.ids)}", group, json.dumps(body)))

    async def receive(self, queue_url: str, max_messages: int, wait_s: int) -> list[ReceivedMessage]:
        self.receive_calls += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            now = loop.time()
            busy = {m.group for m in self.messages if m.visible_at > now and m.receives}
            taken: list[Stored] = []
            for m in self.messages:
                if len(taken) == max_messages:
                    break
                if m.visible_at <= now and m.group not in busy:
                    m.receives += 1
                    m.visible_at = now + VISIBILITY_S
                    m.receipt = f"{m.message_id}-{m.receives}"
                    taken.append(m)
            if taken or now >= deadline:
                return [
                    ReceivedMessage(
                        m.message_id,
                        m.receipt or "",
                        m.body,
                        "",
                        {"MessageGroupId": m.group, "ApproximateReceiveCount": str(m.receives)},
                        {},
                    )
                    for m in taken
                ]
            await asyncio.sleep(0.01)

    async def delete(self, queue_url: str, messages: list[ReceivedMessage]) -> int:
        receipts = {m.receipt_handle for m in messages}
        self.messages = [m for m in self.messages if m.receipt not in receipts]
        return 0


class FakeInvocation:
    def __init__(self, future: asyncio.Future[InvocationResult]) -> None:
        self.future = future


class FakePool:
    """Runs ``function(records)`` per batch after ``delay_s``; an exception it raises is a crash."""

    def __init__(self, size: int, function: Callable[[list[dict[str, Any]]], Any], delay_s: float = 0.02) -> None:
        self.size = size
        self.function = function
        self.delay_s = delay_s
        self.running = 0
        self.peak = 0

    def submit(self, request_id: str, event_json: bytes) -> FakeInvocation:
        future: asyncio.Future[InvocationResult] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().create_task(self._run(json.loads(event_json)["Records"], future))
        return FakeInvocation(future)

    async def _run(self, records: list[dict[str, Any]], future: asyncio.Future[InvocationResult]) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            assert self.running <= self.size, "more invocations than environments"
            await asyncio.sleep(self.delay_s)
            try:
                answer = self.function(records)
            except InvocationFailed as failure:
                future.set_exception(failure)
                return
            future.set_result(InvocationResult(True, answer, None, 1.0, None))
        finally:
            self.running -= 1


def mapping(maximum_concurrency: int = 5, batch_size: int = 10, enabled: bool = True) -> QueueMapping:
    function = FunctionSpec(
        name="fn",
        arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
        handler="h.handler",
        runtime="python3.12",
        timeout_s=1.0,
        memory_mb=128,
        environment={},
        reserved_concurrency=None,
        code_dir=Path("."),
        code_sha256="",
    )
    return QueueMapping(
        uuid="u",
        arn="arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u",
        logical_id="Mapping",
        queue_arn="arn:aws:sqs:us-east-1:000000000000:q.fifo",
        queue_url="http://queue",
        fifo=True,
        visibility_timeout_s=1,
        function=function,
        settings=MappingSettings(enabled, batch_size, 0.0, maximum_concurrency, True),
    )


def run_until(poller: QueuePoller, done: Callable[[], bool]) -> None:
    async def main() -> None:
        poller.start()
        deadline = asyncio.get_running_loop().time() + RUN_LIMIT_S
        while not done():
            assert asyncio.get_running_loop().time() < deadline, "the poller did not finish in time"
            await asyncio.sleep(0.01)
        await poller.stop()

    asyncio.run(main())


class Recorder:
    """The function: applies records in the order it sees them, fails on request."""

    def __init__(self, fail_first_receive: set[tuple[str, int]] = frozenset(), crash_at: tuple[str, int] | None = None):
        self.applied: dict[str, list[int]] = defaultdict(list)
        self.fail_first_receive = fail_first_receive
        self.crash_at = crash_at
        self.crashed = False

    def __call__(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        bodies = [(r, json.loads(r["body"])) for r in records]
        if self.crash_at and not self.crashed and any((b["g"], b["n"]) == self.crash_at for _, b in bodies):
            self.crashed = True
            raise InvocationFailed(FailureKind.CRASH, "the environment died")
        failed_groups: set[str] = set()
        failures = []
        for record, body in bodies:
            first = record["attributes"]["ApproximateReceiveCount"] == "1"
            if body["g"] in failed_groups or (first and (body["g"], body["n"]) in self.fail_first_receive):
                failed_groups.add(body["g"])
                failures.append({"itemIdentifier": record["messageId"]})
                continue
            self.applied[body["g"]].append(body["n"])
        return {"batchItemFailures": failures}


def fill(queue: FakeFifoQueue, groups: int, per_group: int) -> dict[str, list[int]]:
    for n in range(per_group):
        for g in range(groups):
            queue.send(f"g{g}", {"g": f"g{g}", "n": n})
    return {f"g{g}": list(range(per_group)) for g in range(groups)}


def test_concurrency_grows_to_maximum_concurrency_and_no_further():
    queue, recorder = FakeFifoQueue(), Recorder()
    expected = fill(queue, groups=20, per_group=3)
    pool = FakePool(size=16, function=recorder, delay_s=0.05)
    poller = QueuePoller(mapping(maximum_concurrency=4, batch_size=1), pool, queue, "us-east-1")  # type: ignore[arg-type]
    run_until(poller, lambda: dict(recorder.applied) == expected)
    assert pool.peak == 4
    assert poller.stats.peak_in_flight_batches == 4


def test_one_group_is_never_in_two_batches_at_once():
    queue, recorder = FakeFifoQueue(), Recorder()
    expected = fill(queue, groups=1, per_group=30)
    pool = FakePool(size=8, function=recorder)
    poller = QueuePoller(mapping(maximum_concurrency=8, batch_size=2), pool, queue, "us-east-1")  # type: ignore[arg-type]
    run_until(poller, lambda: dict(recorder.applied) == expected)
    assert pool.peak == 1
    assert poller.stats.peak_in_flight_groups == 1


def test_order_per_group_holds_across_partial_failures_and_a_crash():
    queue = FakeFifoQueue()
    recorder = Recorder(fail_first_receive={("g0", 2), ("g3", 0), ("g5", 4)}, crash_at=("g1", 3))
    expected = fill(queue, groups=6, per_group=8)
    pool = FakePool(size=4, function=recorder)
    poller = QueuePoller(mapping(maximum_concurrency=4), pool, queue, "us-east-1")  # type: ignore[arg-type]
    run_until(poller, lambda: dict(recorder.applied) == expected and not queue.messages)
    assert dict(recorder.applied) == expected  # each once, in order
    assert poller.stats.batches_failed == {"crash": 1}
    assert poller.stats.records_retried >= 4


def test_a_disabled_mapping_takes_nothing_until_enabled():
    queue, recorder = FakeFifoQueue(), Recorder()
    expected = fill(queue, groups=2, per_group=2)
    poller = QueuePoller(mapping(enabled=False), FakePool(4, recorder), queue, "us-east-1")  # type: ignore[arg-type]

    async def main() -> None:
        poller.start()
        await asyncio.sleep(0.3)
        assert queue.receive_calls == 0 and not recorder.applied
        poller.update(dataclasses.replace(poller.settings, enabled=True))
        deadline = asyncio.get_running_loop().time() + RUN_LIMIT_S
        while dict(recorder.applied) != expected:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        await poller.stop()

    asyncio.run(main())


def test_reserved_concurrency_and_the_pool_bound_the_limit():
    pool = FakePool(size=3, function=Recorder())
    poller = QueuePoller(mapping(maximum_concurrency=10), pool, FakeFifoQueue(), "us-east-1")  # type: ignore[arg-type]
    assert poller.concurrency_limit == 3
    reserved = dataclasses.replace(
        poller.mapping, function=dataclasses.replace(poller.mapping.function, reserved_concurrency=0)
    )
    assert QueuePoller(reserved, pool, FakeFifoQueue(), "us-east-1").concurrency_limit == 0  # type: ignore[arg-type]
