"""One execution environment: a runtime process, its protocol socket, its lifecycle.

The environment runs :mod:`stack.embedded.gateway.runtime` with the function's code directory
first on ``sys.path`` and only the variables Lambda gives a function (the function's own
``Environment.Variables``, the reserved ``AWS_*``/``LAMBDA_*``/``_HANDLER`` ones, dummy
credentials and ``AWS_ENDPOINT_URL``) — never the gateway's own environment. Handler
stdout/stderr go straight to the function's log file; protocol frames travel on a
dedicated socket pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.embedded.gateway import runtime
from stack.embedded.gateway.definition import FunctionSpec
from stack.embedded.interpreters import link_packages

RUNTIME_SCRIPT = Path(runtime.__file__).resolve()
_HEADER = runtime.FRAME_HEADER

# What the Lambda Python runtime provides beside the standard library (boto3 and the
# packages it needs). The function's own zip comes first on sys.path, as on Lambda.
RUNTIME_PROVIDED_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


class InitFailed(Exception):
    """The function's init (import of the handler module) failed."""

    def __init__(self, error: Mapping[str, Any], init_ms: float | None) -> None:
        super().__init__(f"{error.get('errorType')}: {error.get('errorMessage')}")
        self.error = dict(error)
        self.init_ms = init_ms


class EnvironmentExited(Exception):
    """The runtime process went away (crash, kill, exit)."""


@dataclass(frozen=True, slots=True)
class LaunchSettings:
    """What every environment of this gateway shares."""

    endpoint_url: str
    region: str
    state_dir: Path
    runtime_libs: Path | None  # None: the interpreter's own site-packages stay visible
    python: str = sys.executable  # what the functions run on (`--python`: the declared runtime's)


def prepare_runtime_libs(state_dir: Path) -> Path:
    """A directory holding only what the Lambda Python runtime provides (links into this interpreter's
    packages: pure Python, so they import on a functions interpreter of another version too)."""
    return link_packages(RUNTIME_PROVIDED_PACKAGES, state_dir / "runtime-libs")


def function_environment(function: FunctionSpec, settings: LaunchSettings, log_stream: str) -> dict[str, str]:
    """The process environment of one execution environment, as Lambda builds it."""
    env = dict(function.environment)
    if "AWS_ENDPOINT_URL" not in env:
        env["AWS_ENDPOINT_URL"] = settings.endpoint_url
    isolated_config = str(settings.state_dir / "no-aws-config")
    env.update(
        {
            # Reserved by Lambda: a function cannot override these.
            "_HANDLER": function.handler,
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "LAMBDA_RUNTIME_DIR": str(RUNTIME_SCRIPT.parent),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": settings.region,
            "AWS_DEFAULT_REGION": settings.region,
            # Dummy credentials the emulator accepts; never the caller's own.
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_SESSION_TOKEN": "test",
            "AWS_CONFIG_FILE": isolated_config,
            "AWS_SHARED_CREDENTIALS_FILE": isolated_config,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PYTHONIOENCODING": "utf-8",
        }
    )
    return env


def log_stream_name(function: FunctionSpec) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{function.version}]{secrets.token_hex(16)}"


class _ProtocolConnection(asyncio.Protocol):
    """Length-prefixed JSON frames from the runtime → the environment's callbacks."""

    def __init__(self, on_message: Callable[[dict[str, Any]], None], on_lost: Callable[[], None]) -> None:
        self._on_message = on_message
        self._on_lost = on_lost
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        size = _HEADER.size
        while len(buffer) >= size:
            (length,) = _HEADER.unpack_from(buffer)
            end = size + length
            if len(buffer) < end:
                return
            message = json.loads(buffer[size:end])
            del buffer[:end]
            self._on_message(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost()


class ExecutionEnvironment:
    """A runtime process serving one function, one invocation at a time."""

    def __init__(
        self,
        function: FunctionSpec,
        number: int,
        settings: LaunchSettings,
        log_fd: int,
        on_message: Callable[[ExecutionEnvironment, dict[str, Any]], None],
        on_exit: Callable[[ExecutionEnvironment], None],
    ) -> None:
        self.function = function
        self.number = number
        self.settings = settings
        self.log_stream = log_stream_name(function)
        self._log_fd = log_fd
        self._on_message = on_message
        self._on_exit = on_exit
        self.process: asyncio.subprocess.Process | None = None
        self._connection: _ProtocolConnection | None = None
        self._ready: asyncio.Future[float] | None = None
        self.init_ms: float | None = None
        self.invocations = 0
        self.max_memory_mb = 0
        self.exited = False
        self.current: Any = None  # the invocation in flight (owned by the pool)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self, init_limit_s: float = runtime.INIT_LIMIT_S) -> float:
        """Spawn and run init; the init duration in ms, or :class:`InitFailed`/:class:`EnvironmentExited`."""
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair()
        args = [
            self.settings.python,
            "-S" if self.settings.runtime_libs is not None else "-s",
            str(RUNTIME_SCRIPT),
            "--fd",
            str(child.fileno()),
            "--task-root",
            str(self.function.code_dir),
            "--function-arn",
            self.function.arn,
            "--spawned-at-ns",
            str(time.time_ns()),
        ]
        if self.settings.runtime_libs is not None:
            args += ["--runtime-libs", str(self.settings.runtime_libs)]
        self._ready = loop.create_future()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._log_fd,
                stderr=self._log_fd,
                pass_fds=(child.fileno(),),
                env=function_environment(self.function, self.settings, self.log_stream),
                cwd=str(self.function.code_dir),
                start_new_session=True,
            )
        finally:
            child.close()
        _, self._connection = await loop.create_connection(
            lambda: _ProtocolConnection(self._message, self._lost), sock=parent
        )
        try:
            self.init_ms = await asyncio.wait_for(asyncio.shield(self._ready), init_limit_s)
        except TimeoutError:
            self.kill()
            raise InitFailed(
                {"errorType": "Runtime.InitTimeout", "errorMessage": f"init exceeded {init_limit_s:.0f} s"}, None
            ) from None
        return self.init_ms

    def send(self, frame: bytes) -> None:
        assert self._connection is not None and self._connection.transport is not None
        self.invocations += 1
        self._connection.transport.write(frame)

    def kill(self) -> None:
        """SIGKILL the runtime (timeouts, shutdown). Exit is reported through ``on_exit`` once."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def wait_exit(self, timeout: float = 2.0) -> int | None:
        if self.process is None:
            return None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.kill()
            return await self.process.wait()

    def exit_description(self) -> str:
        code = self.process.returncode if self.process else None
        if code is None:
            return "Runtime exited without providing a reason"
        if code < 0:
            import signal

            try:
                name = signal.Signals(-code).name.removeprefix("SIG").lower()
            except ValueError:
                name = str(-code)
            name = {"kill": "killed", "term": "terminated", "segv": "segmentation fault"}.get(name, name)
            return f"Runtime exited with error: signal: {name}"
        return f"Runtime exited with error: exit status {code}"

    # --- protocol callbacks ---

    def _message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        ready = self._ready
        if kind == "ready":
            if ready is not None and not ready.done():
                ready.set_result(float(message.get("init_ms") or 0.0))
            return
        if kind == "init_error":
            if ready is not None and not ready.done():
                ready.set_exception(InitFailed(message, message.get("init_ms")))
            return
        self._on_message(self, message)

    def _lost(self) -> None:
        if self.exited:
            return
        self.exited = True
        ready = self._ready
        if ready is None or not ready.done() or ready.exception() is not None:
            # Exit before or right after a failed init: start() reports it; just reap.
            if ready is not None and not ready.done():
                ready.set_exception(EnvironmentExited("runtime exited during init"))
            asyncio.get_running_loop().create_task(self.wait_exit())
            return
        self._on_exit(self)

    def read_max_memory_mb(self) -> int:
        """Peak RSS of the runtime process from /proc (for lines the gateway writes itself)."""
        pid = self.pid
        if pid is None:
            return self.max_memory_mb
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return max(1, int(line.split()[1]) // 1024)
        except OSError:
            pass
        return self.max_memory_mb
