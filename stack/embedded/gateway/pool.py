"""A fixed-size warm pool of execution environments per function, as Lambda runs them.

- One invocation in flight per environment.
- Environments start lazily (cold start) when an invocation finds none idle, up to the
  pool size: the function's reserved concurrency, else a limit from the function's measured wait
  share (CPU count + 2 for a function that computes, up to 16 for one that mostly waits on I/O:
  :mod:`.pool_sizing`).
- Invocations beyond the pool wait, first come first served (a burst shows as latency).
- A function timeout kills the environment; a crash ends it; an init failure fails the
  invocation waiting longest. A replacement starts when invocations are waiting.
"""

from __future__ import annotations

import asyncio
import enum
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from stack.embedded.gateway import runtime
from stack.embedded.gateway.definition import FunctionSpec
from stack.embedded.gateway.environment import EnvironmentExited, ExecutionEnvironment, InitFailed, LaunchSettings
from stack.embedded.gateway.pool_sizing import WaitShareSizer, cpu_bound_pool_size

INIT_SAMPLES_KEPT = 1000


def default_pool_size() -> int:
    """The size before any invocation was measured (see :class:`WaitShareSizer` for after)."""
    return cpu_bound_pool_size()


class FailureKind(enum.StrEnum):
    """Why an invocation produced no function answer."""

    CRASH = "crash"  # the environment died, or the gateway is shutting down
    TIMEOUT = "timeout"
    INIT = "init"  # the function's init failed
    THROTTLED = "throttled"  # no environment may be added (Lambda refuses the invoke)
    PAYLOAD = "payload"  # the request exceeds Lambda's invoke payload limit (Lambda refuses the invoke)


class InvocationFailed(Exception):
    """The invocation produced no function answer (internal to the data plane: becomes an API response)."""

    def __init__(self, kind: FailureKind, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.error_type = error_type


@dataclass(slots=True)
class InvocationResult:
    ok: bool  # False: the function raised (errorType/errorMessage in ``error``)
    payload: Any
    error: dict[str, Any] | None
    duration_ms: float
    init_ms: float | None  # set when this invocation met a cold environment


class Invocation:
    """One request for the function, from queueing to its result."""

    __slots__ = (
        "request_id",
        "event_json",
        "future",
        "abandoned",
        "submitted",
        "waited_for_capacity",
        "cold",
        "environment",
        "_timer",
    )

    def __init__(self, request_id: str, event_json: bytes, future: asyncio.Future[InvocationResult]) -> None:
        self.request_id = request_id
        self.event_json = event_json
        self.future = future
        self.abandoned = False
        self.submitted = time.perf_counter()
        self.waited_for_capacity = False  # queued because every environment was busy at full size
        self.cold = False  # met a fresh environment (its first invocation)
        self.environment: ExecutionEnvironment | None = None
        self._timer: asyncio.TimerHandle | None = None

    def abandon(self) -> None:
        """The caller stopped waiting (integration timeout): drop it if it has not started."""
        self.abandoned = True

    def _finish(self, result: InvocationResult | None = None, error: BaseException | None = None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.future.done():
            return
        if error is not None:
            self.future.set_exception(error)
            # Nobody may be waiting any more (abandoned): mark the exception as seen.
            self.future.exception()
        else:
            self.future.set_result(result)  # type: ignore[arg-type]


@dataclass(slots=True)
class PoolStats:
    pool_size: int
    cold_starts: int = 0
    init_ms: list[float] = field(default_factory=list)
    init_failures: int = 0
    invocations: int = 0
    errors: int = 0  # the function raised
    timeouts: int = 0
    crashes: int = 0
    throttles: int = 0
    queue_waits: int = 0  # invocations that found every environment busy at full pool size
    queue_wait_ms_total: float = 0.0
    queue_wait_ms_max: float = 0.0
    abandoned: int = 0


class FunctionPool:
    def __init__(self, function: FunctionSpec, settings: LaunchSettings, log_fd: int, size: int | None = None) -> None:
        self.function = function
        self.settings = settings
        self.log_fd = log_fd
        # Reserved concurrency (or an explicit size) fixes the pool; otherwise it follows the
        # function's measured wait share.
        if size is None and function.reserved_concurrency is not None:
            size = function.reserved_concurrency
        self._fixed_size = size
        self._sizer = WaitShareSizer() if size is None else None
        self.stats = PoolStats(pool_size=self.size)
        self._idle: list[ExecutionEnvironment] = []
        self._queue: deque[Invocation] = deque()
        self._environments: set[ExecutionEnvironment] = set()
        self._starting = 0
        self._numbers = 0
        self._closed = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- public ---

    def submit(self, request_id: str, event_json: bytes) -> Invocation:
        """Queue one invocation; its ``future`` resolves to :class:`InvocationResult` or :class:`InvocationFailed`."""
        loop = asyncio.get_running_loop()
        invocation = Invocation(request_id, event_json, loop.create_future())
        if self._closed:
            invocation._finish(error=InvocationFailed(FailureKind.CRASH, "the gateway is shutting down"))
            return invocation
        if len(event_json) > runtime.MAX_REQUEST_PAYLOAD_BYTES:
            invocation._finish(
                error=InvocationFailed(
                    FailureKind.PAYLOAD,
                    f"Request must be smaller than {runtime.MAX_REQUEST_PAYLOAD_BYTES} bytes for the Invoke operation",
                    "RequestEntityTooLargeException",
                )
            )
            return invocation
        if self.size <= 0:
            self.stats.throttles += 1
            invocation._finish(
                error=InvocationFailed(FailureKind.THROTTLED, "Rate Exceeded.", "TooManyRequestsException")
            )
            return invocation
        if self._idle:
            self._dispatch(self._idle.pop(), invocation)
            return invocation
        self._queue.append(invocation)
        if len(self._environments) + self._starting < self.size:
            self._spawn()
        else:
            invocation.waited_for_capacity = True
            self.stats.queue_waits += 1
        return invocation

    @property
    def size(self) -> int:
        """The most environments the pool may run now."""
        if self._sizer is not None:
            return self._sizer.limit()
        assert self._fixed_size is not None
        return self._fixed_size

    @property
    def live(self) -> int:
        return len(self._environments) + self._starting

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        return {
            "pool_size": self.size,
            "wait_share": None if self._sizer is None or (w := self._sizer.wait_share) is None else round(w, 3),
            "environments": self.live,
            "idle": len(self._idle),
            "busy": sum(1 for e in self._environments if e.current is not None),
            "starting": self._starting,
            "queued": sum(1 for i in self._queue if not i.abandoned),
            "environment_pids": sorted(e.pid for e in self._environments if e.pid is not None),
            "busy_pids": sorted(e.pid for e in self._environments if e.current is not None and e.pid is not None),
            "cold_starts": s.cold_starts,
            "init_ms": [round(v, 2) for v in s.init_ms],
            "init_failures": s.init_failures,
            "invocations": s.invocations,
            "errors": s.errors,
            "timeouts": s.timeouts,
            "crashes": s.crashes,
            "throttles": s.throttles,
            "queue_waits": s.queue_waits,
            "queue_wait_ms_total": round(s.queue_wait_ms_total, 2),
            "queue_wait_ms_max": round(s.queue_wait_ms_max, 2),
            "abandoned": s.abandoned,
        }

    async def close(self) -> None:
        self._closed = True
        while self._queue:
            self._queue.popleft()._finish(error=InvocationFailed(FailureKind.CRASH, "the gateway is shutting down"))
        for task in list(self._tasks):
            task.cancel()
        environments = list(self._environments)
        for environment in environments:
            environment.exited = True  # shutdown, not a crash
            environment.kill()
            if environment.current is not None:
                environment.current._finish(error=InvocationFailed(FailureKind.CRASH, "the gateway is shutting down"))
        await asyncio.gather(*(e.wait_exit() for e in environments), return_exceptions=True)
        self._environments.clear()
        self._idle.clear()

    # --- environments ---

    def _spawn(self) -> None:
        self._starting += 1
        self._numbers += 1
        environment = ExecutionEnvironment(
            self.function, self._numbers, self.settings, self.log_fd, self._on_message, self._on_exit
        )
        task = asyncio.get_running_loop().create_task(self._start(environment))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, environment: ExecutionEnvironment) -> None:
        try:
            init_ms = await environment.start()
        except (InitFailed, EnvironmentExited, OSError) as exc:
            self._starting -= 1
            self.stats.init_failures += 1
            await environment.wait_exit()
            self._fail_oldest(exc)
            return
        except asyncio.CancelledError:
            self._starting -= 1
            environment.kill()
            raise
        self._starting -= 1
        self.stats.cold_starts += 1
        self.stats.init_ms.append(init_ms)
        del self.stats.init_ms[:-INIT_SAMPLES_KEPT]
        if environment.exited:  # died between its ready message and now: already handled as a crash
            return
        self._environments.add(environment)
        self._available(environment, cold=True)

    def _fail_oldest(self, exc: BaseException) -> None:
        """An init failure is the answer to the invocation that has waited longest."""
        if isinstance(exc, InitFailed):
            failure = InvocationFailed(FailureKind.INIT, str(exc), exc.error.get("errorType"))
        else:
            failure = InvocationFailed(FailureKind.INIT, f"the runtime could not start: {exc}", "Runtime.ExitError")
        while self._queue:
            invocation = self._queue.popleft()
            if invocation.abandoned:
                self.stats.abandoned += 1
                continue
            invocation._finish(error=failure)
            break
        self._replace_if_waiting()

    def _replace_if_waiting(self) -> None:
        waiting = sum(1 for i in self._queue if not i.abandoned)
        while waiting > self._starting and self.live < self.size and not self._closed:
            self._spawn()

    def _available(self, environment: ExecutionEnvironment, cold: bool = False) -> None:
        while self._queue:
            invocation = self._queue.popleft()
            if invocation.abandoned:
                self.stats.abandoned += 1
                continue
            self._dispatch(environment, invocation)
            return
        self._idle.append(environment)

    def _dispatch(self, environment: ExecutionEnvironment, invocation: Invocation) -> None:
        if invocation.waited_for_capacity:
            waited_ms = (time.perf_counter() - invocation.submitted) * 1000
            self.stats.queue_wait_ms_total += waited_ms
            self.stats.queue_wait_ms_max = max(self.stats.queue_wait_ms_max, waited_ms)
        invocation.cold = environment.invocations == 0
        invocation.environment = environment
        environment.current = invocation
        timeout_s = self.function.timeout_s
        deadline_ms = int(time.time() * 1000 + timeout_s * 1000)
        head = f'{{"type":"invoke","id":"{invocation.request_id}","deadline_ms":{deadline_ms},"event":'.encode()
        body = head + invocation.event_json + b"}"
        self.stats.invocations += 1
        invocation._timer = asyncio.get_running_loop().call_later(timeout_s, self._on_timeout, environment, invocation)
        environment.send(runtime.FRAME_HEADER.pack(len(body)) + body)

    def _on_message(self, environment: ExecutionEnvironment, message: dict[str, Any]) -> None:
        invocation = environment.current
        if message.get("type") != "result" or invocation is None or message.get("id") != invocation.request_id:
            return  # a late answer of an invocation already timed out: the environment is gone anyway
        environment.current = None
        ok = bool(message.get("ok"))
        if not ok:
            self.stats.errors += 1
        duration_ms = float(message.get("duration_ms") or 0.0)
        invocation._finish(
            InvocationResult(
                ok=ok,
                payload=message.get("payload"),
                error=message.get("error"),
                duration_ms=duration_ms,
                init_ms=environment.init_ms if invocation.cold else None,
            )
        )
        if self._sizer is not None:
            cpu_ms, cpu_wait_ms = message.get("cpu_ms"), message.get("cpu_wait_ms")
            self._sizer.record(
                duration_ms,
                float(cpu_ms) if isinstance(cpu_ms, int | float) else None,
                float(cpu_wait_ms) if isinstance(cpu_wait_ms, int | float) else None,
            )
        self._available(environment)
        if self._sizer is not None:
            self._replace_if_waiting()  # the limit may have grown while invocations wait

    def _on_timeout(self, environment: ExecutionEnvironment, invocation: Invocation) -> None:
        if environment.current is not invocation:
            return
        invocation._timer = None
        self.stats.timeouts += 1
        timeout_s = self.function.timeout_s
        memory = environment.read_max_memory_mb()
        environment.current = None
        environment.exited = True  # handled here, not as a crash
        environment.kill()
        self._forget(environment)
        stamp = _utc_stamp()
        _write_log(
            self.log_fd,
            f"{stamp} {invocation.request_id} Task timed out after {timeout_s:.2f} seconds\n"
            + runtime.end_lines(
                invocation.request_id,
                duration_ms=timeout_s * 1000,
                memory_mb=self.function.memory_mb,
                max_memory_mb=memory,
                init_ms=environment.init_ms if invocation.cold else None,
                status="timeout",
            ),
        )
        invocation._finish(error=InvocationFailed(FailureKind.TIMEOUT, f"Task timed out after {timeout_s:.2f} seconds"))
        self._reap(environment)
        self._replace_if_waiting()

    def _on_exit(self, environment: ExecutionEnvironment) -> None:
        """The runtime went away on its own (crash, kill from outside, exit in the handler)."""
        self._forget(environment)
        task = asyncio.get_running_loop().create_task(self._after_crash(environment))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_crash(self, environment: ExecutionEnvironment) -> None:
        await environment.wait_exit()
        invocation = environment.current
        environment.current = None
        if invocation is not None:
            self.stats.crashes += 1
            reason = environment.exit_description()
            _write_log(
                self.log_fd,
                f"RequestId: {invocation.request_id} Error: {reason}\nRuntime.ExitError\n"
                + runtime.end_lines(
                    invocation.request_id,
                    duration_ms=(time.perf_counter() - invocation.submitted) * 1000,
                    memory_mb=self.function.memory_mb,
                    max_memory_mb=environment.max_memory_mb or 1,
                    status="error\tError Type: Runtime.ExitError",
                ),
            )
            invocation._finish(error=InvocationFailed(FailureKind.CRASH, reason, "Runtime.ExitError"))
        self._replace_if_waiting()

    def _forget(self, environment: ExecutionEnvironment) -> None:
        self._environments.discard(environment)
        if environment in self._idle:
            self._idle.remove(environment)

    def _reap(self, environment: ExecutionEnvironment) -> None:
        task = asyncio.get_running_loop().create_task(environment.wait_exit())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _utc_stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _write_log(fd: int, text: str) -> None:
    data = text.encode("utf-8", "backslashreplace")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
