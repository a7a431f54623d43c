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
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from stack.embedded.processes import NotReady, free_port, pid_alive, stop_group, wait_ready
from stack.errors import HookstackError

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Only what MiniStack needs: it passes its whole environment into every function it runs.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT")
REQUIRE_PATCHES_ENV = "HOOKSTACK_REQUIRE_MINISTACK_PATCHES"
# Read by the patch lambda-runtime-interpreter (stack.embedded.ministack.lambda_runtime_patches).
FUNCTION_RUNTIMES_DIR_ENV = "HOOKSTACK_FUNCTION_RUNTIMES_DIR"


def ministack_command(patched: bool = True) -> list[str]:
    return [sys.executable, "-m", "stack.embedded.ministack.server" if patched else "ministack"]


def ministack_environment(
    port: int, host: str, tmp_dir: Path, *, patched: bool = True, runtimes_dir: Path | None = None
) -> dict[str, str]:
    """A minimal environment: MiniStack passes its own into every function it runs. ``runtimes_dir``:
    where `hookstack up` puts the declared runtimes' interpreters (patch ``lambda-runtime-interpreter``)."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(
        {
            "GATEWAY_PORT": str(port),
            "BIND_HOST": host,  # MiniStack binds 0.0.0.0 by default
            "MINISTACK_HOST": host,
            "TMPDIR": str(tmp_dir),  # its Lambda work dirs land here, removed with it
            "LOG_LEVEL": os.environ.get("HOOKSTACK_EMULATOR_LOG_LEVEL", "WARNING"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if patched:
        # Load figures are meaningless without the FIFO dedup fix: refuse to run unpatched.
        env[REQUIRE_PATCHES_ENV] = "1"
    if runtimes_dir is not None:
        env[FUNCTION_RUNTIMES_DIR_ENV] = str(runtimes_dir)
    return env


def healthy(endpoint_url: str) -> bool:
    """``/_ministack/health`` answers 200."""
    try:
        with urllib.request.urlopen(f"{endpoint_url}/_ministack/health", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def await_emulator(
    endpoint_url: str, process: subprocess.Popen, timeout_s: float, last_words: Callable[[], str]
) -> None:
    """Until MiniStack is healthy; a clear error if the child dies or is too slow (then stopped)."""
    try:
        wait_ready(process, lambda: healthy(endpoint_url) or None, timeout_s, poll_s=0.1)
    except NotReady as failure:
        if failure.exited:
            raise HookstackError(
                f"emulator exited during start-up (code {failure.returncode}): {last_words()}"
            ) from None
        raise HookstackError(f"emulator not ready after {timeout_s:.0f}s: {last_words()}") from None


def last_log_line(log_file: Path) -> str:
    try:
        lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "no log"
    return lines[-1][:300] if lines else f"no output (see {log_file})"


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
        # The declared runtimes' interpreters (stack.embedded.interpreters), made per deploy.
        self.runtimes_dir = self.dir / "runtimes"

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
        env = ministack_environment(port, host, self.tmp_dir, runtimes_dir=self.runtimes_dir)
        started = time.monotonic()
        with open(self.log_file, "wb") as log:
            proc = subprocess.Popen(
                ministack_command(),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
                start_new_session=True,  # its own group: stop takes its workers too
            )
        state = EmulatorState(pid=proc.pid, port=port, host=host, started_at=time.time(), ready_seconds=0.0)
        await_emulator(state.endpoint_url, proc, READY_TIMEOUT_S, lambda: last_log_line(self.log_file))
        state.ready_seconds = round(time.monotonic() - started, 3)
        self.state_file.write_text(json.dumps(asdict(state)))
        return state

    def stop(self) -> bool:
        """Stop the emulator and remove what it left behind. True if one was running."""
        state = None
        if self.state_file.exists():
            state = EmulatorState(**json.loads(self.state_file.read_text()))
            stop_group(state.pid)
            self.state_file.unlink()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        shutil.rmtree(self.runtimes_dir, ignore_errors=True)
        return state is not None


class MiniStackProcess:
    """MiniStack owned by this Python process (benchmarks, tests), patched (default) or as
    upstream ships it, on a free loopback port, in a private temporary directory."""

    def __init__(self, *, patched: bool = True, ready_timeout_s: float = 60.0) -> None:
        self.patched = patched
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._ready_timeout_s = ready_timeout_s
        self._process: subprocess.Popen | None = None
        self._dir: Path | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("MiniStack is not running")
        return self._process.pid

    def command(self) -> list[str]:
        return ministack_command(self.patched)

    @property
    def log_file(self) -> Path:
        assert self._dir is not None
        return self._dir / "ministack.log"

    def start(self) -> MiniStackProcess:
        self._dir = Path(tempfile.mkdtemp(prefix=f"ministack-{self.port}-"))
        env = ministack_environment(self.port, "127.0.0.1", self._dir, patched=self.patched)
        with open(self.log_file, "wb") as log:
            self._process = subprocess.Popen(
                self.command(),
                env=env,
                cwd=self._dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            await_emulator(self.endpoint_url, self._process, self._ready_timeout_s, self.log_text)
        except BaseException:
            self.stop()
            raise
        return self

    def log_text(self) -> str:
        if self._dir is None or not self.log_file.exists():
            return ""
        return self.log_file.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_group(process.pid, process=process)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> MiniStackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
