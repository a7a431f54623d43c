"""Stopping a started process group leaves nothing behind, even a leader that ignores SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from stack.embedded.processes import pid_alive, stop_group


def test_stop_group_takes_the_whole_group_even_when_the_leader_ignores_sigterm():
    code = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(child.pid, flush=True); time.sleep(60)"
    )
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    child_pid = int(leader.stdout.readline())
    assert stop_group(leader.pid, ((signal.SIGTERM, 0.3), (signal.SIGKILL, 2.0)), process=leader)
    assert leader.poll() == -signal.SIGKILL
    deadline = time.monotonic() + 2
    while pid_alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child_pid)
    assert not stop_group(leader.pid, process=leader)  # already gone: nothing to do
