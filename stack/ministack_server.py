"""Run the pinned MiniStack with hookstack's patches applied.

``python -m stack.ministack_server`` is ``python -m ministack`` plus
``stack.ministack_patches``: the patches are applied in this process, then MiniStack's
own ``main()`` runs, so every MiniStack setting (GATEWAY_PORT, BIND_HOST, LOG_LEVEL,
PERSIST_STATE, LAMBDA_EXECUTOR, …) and ``--stop`` work as documented upstream.
``-d/--detach`` is refused: MiniStack detaches by starting a fresh
``python -m hypercorn ministack.app:app`` process, which would not carry the patches.

A patch that refuses (MiniStack release or source not the one it was checked against)
is reported on stderr and MiniStack runs without it, unless
``HOOKSTACK_REQUIRE_MINISTACK_PATCHES=1`` asks for a hard failure (benchmarks and
tests set it so they never measure the unpatched emulator by mistake).

``MiniStackProcess`` starts either form as a child process on a free loopback port.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from stack.ministack_patches import apply_patches

REQUIRE_PATCHES_ENV = "HOOKSTACK_REQUIRE_MINISTACK_PATCHES"
EXIT_PATCH_REFUSED = 3
EXIT_DETACH_REFUSED = 2


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-d", "--detach") for a in args):
        print("hookstack: --detach is not supported by stack.ministack_server: the detached "
              "MiniStack process would run without hookstack's patches. Run it in the "
              "foreground (hookstack starts it as its own child process).", file=sys.stderr)
        raise SystemExit(EXIT_DETACH_REFUSED)
    outcomes = apply_patches()
    for outcome in outcomes:
        print(f"hookstack: {outcome.describe()}", file=sys.stderr, flush=True)
    if os.environ.get(REQUIRE_PATCHES_ENV) == "1" and not all(o.applied for o in outcomes):
        print(f"hookstack: {REQUIRE_PATCHES_ENV}=1 and a patch was refused; not starting.",
              file=sys.stderr)
        raise SystemExit(EXIT_PATCH_REFUSED)
    from ministack.app import main as ministack_main

    sys.argv = [sys.argv[0], *args]
    ministack_main()


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MiniStackProcess:
    """MiniStack as a child process on 127.0.0.1, patched (default) or as upstream ships it.

    Output goes to a log file (a pipe nobody reads would eventually block the server).
    The child gets its own session so stop() can end it together with the Lambda
    workers it started.
    """

    def __init__(self, *, patched: bool = True, port: int | None = None,
                 extra_env: dict[str, str] | None = None, ready_timeout_s: float = 60.0) -> None:
        self.patched = patched
        self.port = port or free_loopback_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._extra_env = extra_env or {}
        self._ready_timeout_s = ready_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("MiniStack is not running")
        return self._process.pid

    def command(self) -> list[str]:
        module = "stack.ministack_server" if self.patched else "ministack"
        return [sys.executable, "-m", module]

    def start(self) -> MiniStackProcess:
        env = {**os.environ, **self._extra_env,
               "GATEWAY_PORT": str(self.port), "BIND_HOST": "127.0.0.1"}
        if self.patched:
            env[REQUIRE_PATCHES_ENV] = "1"
        fd, name = tempfile.mkstemp(prefix=f"ministack-{self.port}-", suffix=".log")
        self._log_path = Path(name)
        with os.fdopen(fd, "wb") as log:
            self._process = subprocess.Popen(self.command(), env=env, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._ready_timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"MiniStack exited with {self._process.returncode} before "
                                   f"it was ready:\n{self.log_text()[-4000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/_ministack/health")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"MiniStack not ready on port {self.port} after "
                           f"{self._ready_timeout_s:.0f} s:\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            self._signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait(timeout=timeout_s)
        if process is not None:
            # Lambda workers may outlive a server that exited on its own.
            self._signal_group(process, signal.SIGKILL)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> MiniStackProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":
    main()
