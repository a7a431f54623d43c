"""A consumer as a child process: ``hookstack consumer`` (``python -m stack.cli consumer``) in its
own process group, for tests and drills that run consumer machines beside a deployed stage."""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stack.embedded.processes import log_tail, start_module, stop_group

SAMPLE_HANDLER = "stack.jobs_consumer.sample_job:insert_customer_records"


@dataclass
class ConsumerProcess:
    pid: int
    log_path: Path  # the consumer's output: a line per job, warnings, the summary
    _process: subprocess.Popen[bytes]

    def alive(self) -> bool:
        return self._process.poll() is None

    def wait(self, timeout_s: float) -> int:
        """The exit code, once it ends by itself (--max-jobs, --idle-exit); TimeoutExpired past ``timeout_s``."""
        return self._process.wait(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM (a clean stop: jobs in flight finish within the grace, long polls end), SIGKILL
        after ``timeout_s``; the exit code."""
        stop_group(self._process.pid, ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 2.0)), process=self._process)
        return self._process.wait()

    def output(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)


def start_consumer(
    log_path: Path,
    *,
    handler: str = SAMPLE_HANDLER,
    target: str = "embedded",
    stage: str | None = None,
    concurrency: int = 1,
    max_jobs: int | None = None,
    idle_exit_s: float | None = None,
    max_job_s: float | None = None,
    json_summary: bool = False,
) -> ConsumerProcess:
    """Start ``hookstack consumer`` with these options; its output goes to ``log_path`` (appended).
    The child inherits the environment (``HOOKSTACK_HOME`` names the deployed stage's home)."""
    args = ["consumer", "--handler", handler, "--target", target, "--concurrency", str(concurrency)]
    if stage is not None:
        args += ["--stage", stage]
    if max_jobs is not None:
        args += ["--max-jobs", str(max_jobs)]
    if idle_exit_s is not None:
        args += ["--idle-exit", f"{idle_exit_s:g}"]
    if max_job_s is not None:
        args += ["--max-job-seconds", f"{max_job_s:g}"]
    if json_summary:
        args.append("--json")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = start_module("stack.cli", args, log_path)
    return ConsumerProcess(process.pid, log_path, process)
