"""The embedded emulator: MiniStack as a child process on a free loopback port.

State lives under ``<home>/embedded/`` (``emulator.json`` records the process so a later
``hookstack down`` from another shell can stop it). MiniStack's temporary Lambda directories go
under ``<home>/embedded/tmp`` (it honours ``TMPDIR``), so stopping removes exactly the ones it made.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from stack.errors import HookstackError
from stack.process_group import pid_alive, stop_group

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Only what MiniStack needs: it passes its whole environment into every function it runs.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class EmulatorState:
    pid: int
    port: int
    host: str
    started_at: float
    ready_seconds: float

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Emulator:
    """Start, find and stop the MiniStack child process of one hookstack home directory."""

    def __init__(self, home: Path):
        self.dir = home / "embedded"
        self.state_file = self.dir / "emulator.json"
        self.tmp_dir = self.dir / "tmp"
        self.log_file = self.dir / "ministack.log"

    def state(self) -> EmulatorState | None:
        if not self.state_file.exists():
            return None
        state = EmulatorState(**json.loads(self.state_file.read_text()))
        return state if pid_alive(state.pid) else None

    def start(self, port: int | None = None, host: str = "127.0.0.1") -> EmulatorState:
        running = self.state()
        if running:
            return running
        if port is not None and not port_is_free(port, host):
            raise HookstackError(f"port {port} on {host} is busy: pick another with --port or omit it")
        port = port or free_port(host)
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir()
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        env.update({
            "GATEWAY_PORT": str(port),
            "BIND_HOST": host,  # MiniStack binds 0.0.0.0 by default
            "MINISTACK_HOST": host,
            "TMPDIR": str(self.tmp_dir),
            "LOG_LEVEL": os.environ.get("HOOKSTACK_EMULATOR_LOG_LEVEL", "WARNING"),
            "PYTHONUNBUFFERED": "1",
            # Load figures are meaningless without the FIFO dedup fix: refuse to run unpatched.
            "HOOKSTACK_REQUIRE_MINISTACK_PATCHES": "1",
        })
        started = time.monotonic()
        with open(self.log_file, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "stack.ministack_server"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.dir, start_new_session=True,  # its own group: stop takes its workers too
            )
        state = EmulatorState(pid=proc.pid, port=port, host=host, started_at=time.time(), ready_seconds=0.0)
        self._wait_ready(proc, state)
        state.ready_seconds = round(time.monotonic() - started, 3)
        self.state_file.write_text(json.dumps(asdict(state)))
        return state

    def _wait_ready(self, proc: subprocess.Popen, state: EmulatorState) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        url = f"{state.endpoint_url}/_ministack/health"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise HookstackError(f"emulator exited during start-up (code {proc.returncode}): "
                                     f"{self._last_log_line()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        stop_group(proc.pid, process=proc)
        raise HookstackError(f"emulator not ready after {READY_TIMEOUT_S:.0f}s: {self._last_log_line()}")

    def _last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_file.read_text(errors="replace").splitlines() if line.strip()]
        except FileNotFoundError:
            return "no log"
        return lines[-1][:300] if lines else f"no output (see {self.log_file})"

    def stop(self) -> bool:
        """Stop the emulator and remove what it left behind. True if one was running."""
        state = None
        if self.state_file.exists():
            state = EmulatorState(**json.loads(self.state_file.read_text()))
            stop_group(state.pid)
            self.state_file.unlink()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        return state is not None
