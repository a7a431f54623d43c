"""Start and stop the event plane as a child process (the data plane process starts it)."""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stack.embedded.processes import KILL, NotReady, log_tail, read_ready_file, start_module, stop_group, wait_ready
from stack.errors import HookstackError

READY_FILE_NAME = "event-plane.ready.json"
LOG_NAME = "event-plane.log"


class EventPlaneStartError(HookstackError):
    """The event plane did not come up; the message carries the end of its log."""


@dataclass
class EventPlaneProcess:
    pid: int
    mappings: list[str]
    stats_file: Path
    log_path: Path
    _process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self, timeout_s: float = 40.0) -> int:
        """SIGTERM (batches in flight finish, mappings handed back), SIGKILL of its group after
        ``timeout_s`` (a batch in flight may take up to its function's timeout)."""
        if self._process.poll() is None:
            # The leader alone first: its environments must live until the batches in flight end.
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                pass
        stop_group(self._process.pid, KILL, process=self._process)
        return self._process.wait()


def launch(
    endpoint_url: str,
    stack_name: str,
    log_dir: Path,
    state_dir: Path,
    *,
    region: str = "us-east-1",
    timeout_s: float = 60.0,
    host_site_packages: bool = False,
    python: str | None = None,
    exit_with_parent: bool = True,
) -> EventPlaneProcess:
    """Start ``python -m stack.embedded.event_plane`` and wait until it polls every mapping.

    It leads its own process group (its execution environments go with it) and, with
    ``exit_with_parent``, stops by itself when the caller goes away (the gateway hosting it);
    without, it runs until stopped (a stage with no API: `hookstack down` stops it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ready_file = state_dir / READY_FILE_NAME
    ready_file.unlink(missing_ok=True)
    log_path = state_dir / LOG_NAME
    command = [
        "--endpoint-url",
        endpoint_url,
        "--stack-name",
        stack_name,
        "--log-dir",
        str(log_dir),
        "--state-dir",
        str(state_dir),
        "--ready-file",
        str(ready_file),
        "--region",
        region,
        *(["--exit-with-parent"] if exit_with_parent else []),
    ]
    if host_site_packages:
        command.append("--host-site-packages")
    if python is not None:
        command += ["--python", python]  # the interpreter functions run on
    process = start_module("stack.embedded.event_plane", command, log_path)
    try:
        ready = wait_ready(process, lambda: read_ready_file(ready_file, process.pid), timeout_s, escalation=KILL)
    except NotReady as failure:
        what = f"exited with code {process.returncode}" if failure.exited else f"was not ready after {timeout_s:.0f} s"
        raise EventPlaneStartError(f"the event plane {what}; its log ({log_path}):\n" + log_tail(log_path)) from None
    return EventPlaneProcess(
        pid=process.pid,
        mappings=list(ready.get("mappings") or []),
        stats_file=Path(ready["stats_file"]),
        log_path=log_path,
        _process=process,
    )
