"""Child processes: stopping a started process group leaves nothing behind (even a leader that ignores
SIGTERM), waiting until one is ready is bounded, and the gateway's stats are read from its URL."""

from __future__ import annotations

import http.server
import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from stack.embedded.processes import KILL, NotReady, free_port, pid_alive, stop_group, wait_ready


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


def _sleeper(*, session: bool = True) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=session)


def test_a_process_that_leads_no_group_is_stopped_too():
    process = _sleeper(session=False)  # in our own group: signalled alone, never the group
    assert stop_group(process.pid, ((signal.SIGTERM, 5.0),), process=process)
    assert process.poll() == -signal.SIGTERM


def test_wait_ready_returns_what_the_probe_found():
    process = _sleeper()
    answers = iter([None, None, {"port": 1234}])
    try:
        assert wait_ready(process, lambda: next(answers), 10, poll_s=0.01) == {"port": 1234}
    finally:
        stop_group(process.pid, process=process)


def test_wait_ready_reports_a_child_that_exits_first():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
    with pytest.raises(NotReady) as failure:
        wait_ready(process, lambda: None, 10, poll_s=0.01)
    assert failure.value.exited and failure.value.returncode == 3


def test_wait_ready_stops_a_child_too_slow_to_be_ready():
    process = _sleeper()
    started = time.monotonic()
    with pytest.raises(NotReady) as failure:
        wait_ready(process, lambda: None, 0.2, poll_s=0.01, escalation=KILL)
    assert not failure.value.exited and time.monotonic() - started < 5
    assert process.poll() == -signal.SIGKILL


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_child_server_stops_when_its_parent_dies(tmp_path):
    stopped = tmp_path / "stopped"
    # The grandchild watches its parent (bounded: a broken watch ends the test, not a stray process).
    grandchild = (
        "import asyncio, logging, sys; from pathlib import Path; from stack.embedded.processes import watch_parent\n"
        "async def main():\n"
        "    stop = asyncio.Event()\n"
        "    watch = asyncio.create_task(watch_parent(stop, logging.getLogger('test')))\n"
        "    await asyncio.sleep(0)\n"
        "    print('watching', flush=True)\n"
        "    await asyncio.wait_for(watch, 10)\n"
        f"    Path({str(stopped)!r}).write_text('stopped' if stop.is_set() else 'not set')\n"
        "asyncio.run(main())\n"
    )
    parent = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {grandchild!r}], stdout=subprocess.PIPE, text=True)\n"
        "child.stdout.readline()\n"
    )
    subprocess.run([sys.executable, "-c", parent], check=True, timeout=30)
    deadline = time.monotonic() + 8
    while not stopped.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stopped.read_text() == "stopped"


def test_gateway_stats_are_read_from_any_url_of_the_gateway():
    from stack.embedded.gateway.gateway import STATS_PATH
    from stack.embedded.gateway.process import read_stats

    class Stats(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"path": self.path}).encode() if self.path == STATS_PATH else b"nope"
            self.send_response(200 if self.path == STATS_PATH else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stats)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert read_stats(f"{base}/dev/webhooks/shopify?x=1") == {"path": STATS_PATH}
        with pytest.raises(OSError):
            read_stats(f"http://127.0.0.1:{free_port()}/dev", timeout_s=1)
    finally:
        server.shutdown()
        server.server_close()
