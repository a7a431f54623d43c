"""The child processes hookstack starts: starting one (``python -m``), waiting until it is ready,
stopping its process group (politely first, then firmly), a free loopback port for it.

Every long-lived child (emulator, data plane, Locust) leads its own process group, so its own
children (Lambda workers, environments, Locust workers) go with it and nothing is left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from stack.errors import HookstackError

Escalation = tuple[tuple[int, float], ...]
TERMINATE: Escalation = ((signal.SIGTERM, 10.0), (signal.SIGKILL, 2.0))
INTERRUPT: Escalation = ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0))
KILL: Escalation = ((signal.SIGKILL, 5.0),)
READY_POLL_S = 0.05
PARENT_CHECK_INTERVAL_S = 1.0

T = TypeVar("T")


class NotReady(HookstackError):
    """The child did not become ready: it exited first (``returncode`` set), or ``timeout_s``
    passed (``returncode`` None; its group is stopped by then). The caller words the error."""

    def __init__(self, returncode: int | None, timeout_s: float) -> None:
        super().__init__(f"exited with code {returncode}" if returncode is not None else f"not ready in {timeout_s}s")
        self.returncode = returncode
        self.timeout_s = timeout_s

    @property
    def exited(self) -> bool:
        return self.returncode is not None


def wait_ready(
    process: subprocess.Popen,
    probe: Callable[[], T | None],
    timeout_s: float,
    *,
    poll_s: float = READY_POLL_S,
    escalation: Escalation = TERMINATE,
) -> T:
    """Call ``probe`` until it returns something other than None (what it returned), while the
    child runs, for at most ``timeout_s``. Raises :class:`NotReady` if the child exits first, or
    at the deadline, after stopping the child's group with ``escalation``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise NotReady(process.returncode, timeout_s)
        ready = probe()
        if ready is not None:
            return ready
        if time.monotonic() > deadline:
            stop_group(process.pid, escalation, process=process)
            raise NotReady(None, timeout_s)
        time.sleep(poll_s)


def start_module(module: str, args: list[str], log_path: Path) -> subprocess.Popen:
    """``python -m module args`` with this interpreter, leading its own process group, output to
    ``log_path`` (appended), importing this very checkout of hookstack wherever it was imported from."""
    import stack

    child_env = dict(os.environ)
    package_root = str(Path(stack.__file__).resolve().parent.parent)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, child_env.get("PYTHONPATH", "")) if p)
    with open(log_path, "ab") as log_file:
        return subprocess.Popen(  # our own interpreter and module
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            env=child_env,
            start_new_session=True,
        )


def write_json_atomically(path: Path, payload: object) -> None:
    """Write ``path`` whole or not at all (a reader never sees half a file): stage, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(payload))
    staging.replace(path)


async def watch_parent(stop: asyncio.Event, log: logging.Logger) -> None:
    """Set ``stop`` once this process's parent has gone (it is re-parented): a child server exits
    when its parent dies, so a test, drill or CLI killed without stopping it leaves nothing running."""
    parent = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(PARENT_CHECK_INTERVAL_S)
        if os.getppid() != parent:
            log.warning("parent process %d went away", parent)
            stop.set()


def read_ready_file(path: Path, pid: int) -> dict[str, Any] | None:
    """The JSON a child wrote to ``path`` once ready, if that child is ``pid`` (not a previous one)."""
    try:
        ready = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return ready if isinstance(ready, dict) and ready.get("pid") == pid else None


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` now (the kernel's pick), for a child to listen on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0): reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _gone(pid: int, process: subprocess.Popen | None) -> bool:
    return process.poll() is not None if process is not None else not pid_alive(pid)


def stop_group(pid: int, escalation: Escalation = TERMINATE, *, process: subprocess.Popen | None = None) -> bool:
    """Signal the group led by ``pid`` with each signal in turn until its leader has gone, then
    SIGKILL whatever is left of the group. True if the leader was running."""
    if _gone(pid, process):
        _kill_rest(pid)
        return False
    for sig, wait_s in escalation:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            # Not a group leader (started without a session of its own): signal it alone.
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
        deadline = time.monotonic() + wait_s
        while not _gone(pid, process) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _gone(pid, process):
            break
    _kill_rest(pid)
    return True


def _kill_rest(pid: int) -> None:
    # Children that outlived their leader still belong to its group.
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
