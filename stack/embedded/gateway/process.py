"""Start and stop the gateway as a child process: the API ``hookstack up`` uses."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import stack
from stack.errors import HookstackError

READY_FILE_NAME = "gateway.ready.json"
GATEWAY_LOG_NAME = "gateway.log"
_POLL_S = 0.05


class GatewayStartError(HookstackError):
    """The gateway did not come up; the message carries the end of its log."""


@dataclass
class GatewayProcess:
    url: str  # base URL including the stage: http://127.0.0.1:PORT/STAGE
    port: int
    pid: int
    host: str
    log_path: Path  # the gateway's own log (functions log to <log_dir>/<function>.log)
    _process: subprocess.Popen[bytes]

    @property
    def stats_url(self) -> str:
        return f"http://{self.host}:{self.port}/_hookstack/stats"

    def alive(self) -> bool:
        return self._process.poll() is None

    def stats(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """``GET /_hookstack/stats``: per-function pool figures, authorizer cache, response counts."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        try:
            connection.request("GET", "/_hookstack/stats")
            response = connection.getresponse()
            return json.loads(response.read())
        finally:
            connection.close()

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM (the gateway kills its environments), SIGKILL after ``timeout_s``; the exit code."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(self._process.pid)
                self._process.wait()
        return self._process.returncode

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def stop_gateway(pid: int, timeout_s: float = 10.0) -> bool:
    """Stop a gateway started elsewhere (pid from its ready file): SIGTERM, then SIGKILL.

    False when no such process was running.
    """
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it
        except ChildProcessError:
            waited = 0
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        if waited == pid:
            return True
        time.sleep(_POLL_S)
    _kill_group(pid)
    return True


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no gateway log)"


def launch(
    endpoint_url: str,
    rest_api_id: str,
    stage: str,
    log_dir: str | Path,
    state_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    region: str = "us-east-1",
    timeout_s: float = 60.0,
    host_site_packages: bool = False,
    exit_with_parent: bool = False,
) -> GatewayProcess:
    """Start ``python -m stack.embedded.gateway`` for ``rest_api_id``/``stage`` and wait until it listens.

    ``log_dir`` receives ``<function>.log`` per function; ``state_dir`` the unpacked code,
    the ready file and the gateway's own log (``gateway.log``). Raises
    :class:`GatewayStartError` with the end of that log when the gateway exits or is not
    listening within ``timeout_s``.

    The gateway runs in its own session and outlives the caller (stop it with
    :meth:`GatewayProcess.stop`, or :func:`stop_gateway` from another process), unless
    ``exit_with_parent`` asks it to stop when the calling process goes away.
    """
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    ready_file = state / READY_FILE_NAME
    ready_file.unlink(missing_ok=True)
    log_path = state / GATEWAY_LOG_NAME
    command = [
        sys.executable,
        "-m",
        "stack.embedded.gateway",
        "--endpoint-url",
        endpoint_url,
        "--rest-api-id",
        rest_api_id,
        "--stage",
        stage,
        "--host",
        host,
        "--port",
        str(port),
        "--log-dir",
        str(Path(log_dir)),
        "--ready-file",
        str(ready_file),
        "--state-dir",
        str(state),
        "--region",
        region,
    ]
    if host_site_packages:
        command.append("--host-site-packages")
    if exit_with_parent:
        command.append("--exit-with-parent")
    env = os.environ.copy()
    # The child imports this very package, wherever it was imported from.
    package_root = str(Path(stack.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=env, start_new_session=True
        )
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise GatewayStartError(
                f"the gateway exited with code {process.returncode} before listening; its log ({log_path}):\n"
                + _tail(log_path)
            )
        ready = _read_ready(ready_file, process.pid)
        if ready is not None:
            return GatewayProcess(
                url=ready["url"],
                port=int(ready["port"]),
                pid=process.pid,
                host=host,
                log_path=log_path,
                _process=process,
            )
        if time.monotonic() > deadline:
            _kill_group(process.pid)
            process.wait()
            raise GatewayStartError(
                f"the gateway was not listening after {timeout_s:.0f} s; its log ({log_path}):\n" + _tail(log_path)
            )
        time.sleep(_POLL_S)


def _read_ready(path: Path, pid: int) -> dict[str, Any] | None:
    try:
        ready = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return ready if ready.get("pid") == pid else None
