"""Start and stop the gateway as a child process: the API ``hookstack up`` uses."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from stack.embedded.gateway.gateway import STATS_PATH
from stack.embedded.processes import (
    KILL,
    Escalation,
    NotReady,
    log_tail,
    read_ready_file,
    start_module,
    stop_group,
    wait_ready,
)
from stack.errors import HookstackError

READY_FILE_NAME = "gateway.ready.json"
GATEWAY_LOG_NAME = "gateway.log"


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
        return f"http://{self.host}:{self.port}{STATS_PATH}"

    def alive(self) -> bool:
        return self._process.poll() is None

    def stats(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """``GET /_hookstack/stats``: per-function pool figures, authorizer cache, response counts."""
        return read_stats(self.url, timeout_s)

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM (the gateway kills its environments), SIGKILL after ``timeout_s``; the exit code."""
        stop_group(self._process.pid, _stop_escalation(timeout_s), process=self._process)
        return self._process.wait()

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def read_stats(url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """``GET /_hookstack/stats`` of the gateway serving ``url`` (any URL on it: only its scheme and
    host count): per-function pool figures (cold starts, init times, environments), the
    authorizer cache, response counts. Raises ``OSError`` when the gateway does not answer with
    them, ``ValueError`` when the answer is not JSON. Straight to the gateway, never a proxy."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.netloc, timeout=timeout_s)
    try:
        connection.request("GET", STATS_PATH)
        response = connection.getresponse()
        body = response.read()
    except http.client.HTTPException as exc:
        raise OSError(f"{parts.netloc}{STATS_PATH}: {exc!r}") from exc
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"{parts.netloc}{STATS_PATH} answered {response.status}")
    return json.loads(body)


def _stop_escalation(timeout_s: float) -> Escalation:
    return ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 2.0))


def stop_gateway(pid: int, timeout_s: float = 10.0) -> bool:
    """Stop a gateway started elsewhere (pid from its ready file): SIGTERM, then SIGKILL.

    False when no such process was running.
    """
    return stop_group(pid, _stop_escalation(timeout_s))


def launch(
    endpoint_url: str,
    rest_api_id: str,
    stage: str,
    log_dir: str | Path,
    state_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    stack_name: str | None = None,
    region: str = "us-east-1",
    timeout_s: float = 60.0,
    host_site_packages: bool = False,
    exit_with_parent: bool = False,
    python: str | None = None,
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
    if stack_name is not None:
        command += ["--stack-name", stack_name]
    if host_site_packages:
        command.append("--host-site-packages")
    if exit_with_parent:
        command.append("--exit-with-parent")
    if python is not None:
        command += ["--python", python]
    process = start_module("stack.embedded.gateway", command, log_path)
    try:
        ready = wait_ready(process, lambda: read_ready_file(ready_file, process.pid), timeout_s, escalation=KILL)
    except NotReady as failure:
        if failure.exited:
            raise GatewayStartError(
                f"the gateway exited with code {process.returncode} before listening; its log ({log_path}):\n"
                + log_tail(log_path)
            ) from None
        raise GatewayStartError(
            f"the gateway was not listening after {timeout_s:.0f} s; its log ({log_path}):\n" + log_tail(log_path)
        ) from None
    return GatewayProcess(
        url=ready["url"],
        port=int(ready["port"]),
        pid=process.pid,
        host=host,
        log_path=log_path,
        _process=process,
    )
