"""Stopping a process group that hookstack started: politely first, then firmly.

Every long-lived child (emulator, data plane, Locust) leads its own process group, so its own
children (Lambda workers, environments, Locust workers) go with it and nothing is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

Escalation = tuple[tuple[int, float], ...]
TERMINATE = ((signal.SIGTERM, 10.0), (signal.SIGKILL, 2.0))
INTERRUPT = ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0))


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
        except ProcessLookupError:
            break
        except PermissionError:
            os.kill(pid, sig)
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
