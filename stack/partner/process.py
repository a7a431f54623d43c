"""Start and stop the partner simulator as a child process, as the other hookstack processes run:
``python -m stack.partner`` leading its own process group, ready once its ready file names it,
stopped with SIGTERM (then SIGKILL), and stopping by itself if its starter goes away."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from stack.embedded.processes import NotReady, log_tail, read_ready_file, start_module, stop_group, wait_ready
from stack.errors import HookstackError
from stack.partner.client import PartnerClient

READY_FILE_NAME = "partner.ready.json"
LOG_NAME = "partner.log"


class PartnerProcessError(HookstackError):
    """The partner did not come up; the message carries the end of its log."""


@dataclass
class PartnerProcess:
    url: str  # http://127.0.0.1:PORT
    port: int
    pid: int
    log_path: Path  # one line per request, and the partner's own messages
    client: PartnerClient
    _process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> int:
        """SIGTERM, SIGKILL after 10 s; the exit code."""
        stop_group(self._process.pid, process=self._process)
        return self._process.wait()


def launch(
    state_dir: Path,
    *,
    port: int = 0,
    callback_secrets: Mapping[str, str] | None = None,
    latency_ms: int = 0,
    error_rate: float = 0.0,
    rate_limit_per_s: float | None = None,
    burst: int = 1,
    seed: int = 0,
    timeout_s: float = 30.0,
) -> PartnerProcess:
    """Start the partner on ``port`` (0: a free one) and wait until it listens. ``state_dir``
    holds its ready file and its log."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ready_file = state_dir / READY_FILE_NAME
    ready_file.unlink(missing_ok=True)
    log_path = state_dir / LOG_NAME
    args = ["--ready-file", str(ready_file), "--port", str(port), "--exit-with-parent"]
    for tenant, secret in (callback_secrets or {}).items():
        args += ["--callback-secret", f"{tenant}={secret}"]
    args += ["--latency-ms", str(latency_ms), "--error-rate", str(error_rate), "--burst", str(burst)]
    args += ["--seed", str(seed)]
    if rate_limit_per_s is not None:
        args += ["--rate-limit", str(rate_limit_per_s)]
    process = start_module("stack.partner", args, log_path)
    try:
        ready = wait_ready(process, lambda: read_ready_file(ready_file, process.pid), timeout_s)
    except NotReady as failure:
        what = f"exited with code {process.returncode}" if failure.exited else f"was not ready after {timeout_s:g} s"
        raise PartnerProcessError(
            f"the partner simulator {what}; its log ({log_path}):\n{log_tail(log_path)}"
        ) from None
    url = str(ready["url"])
    return PartnerProcess(url, int(ready["port"]), process.pid, log_path, PartnerClient(url), process)


@contextlib.contextmanager
def running_partner(
    state_dir: Path | None = None,
    *,
    port: int = 0,
    callback_secrets: Mapping[str, str] | None = None,
    latency_ms: int = 0,
    error_rate: float = 0.0,
    rate_limit_per_s: float | None = None,
    burst: int = 1,
    seed: int = 0,
    timeout_s: float = 30.0,
) -> Iterator[PartnerProcess]:
    """A partner for the length of a ``with`` block, stopped at its end whatever happens.
    Without ``state_dir`` its log lives in a temporary directory removed afterwards."""
    own_dir = state_dir is None
    directory = Path(tempfile.mkdtemp(prefix="hookstack-partner-")) if state_dir is None else state_dir
    try:
        partner = launch(
            directory,
            port=port,
            callback_secrets=callback_secrets,
            latency_ms=latency_ms,
            error_rate=error_rate,
            rate_limit_per_s=rate_limit_per_s,
            burst=burst,
            seed=seed,
            timeout_s=timeout_s,
        )
        try:
            yield partner
        finally:
            partner.stop()
    finally:
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)
