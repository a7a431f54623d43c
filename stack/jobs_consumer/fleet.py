"""A fleet of consumer machines beside a deployed stage: ``hookstack consumer`` child processes
(:mod:`stack.jobs_consumer.process`), each with its own log in one directory, bounded in how many
it starts, and all stopped together at the end whatever happened (a context manager). The load's
``partner-jobs`` run and the jobs drills each run one."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from stack.embedded.processes import log_tail
from stack.errors import HookstackError
from stack.jobs_consumer.process import SAMPLE_HANDLER, ConsumerProcess, start_consumer

STOP_GRACE_S = 3.0  # SIGTERM: jobs in flight finish, long polls end; past it a second SIGTERM quits at once

Launcher = Callable[[Path], ConsumerProcess]  # starts one consumer writing to this log


class FleetExhausted(HookstackError):
    """Asked for more consumer processes than the fleet's bound."""


@dataclass
class ConsumerFleet:
    stage: str
    target: str
    log_dir: Path
    concurrency: int = 2
    max_started: int = 12
    stop_grace_s: float = STOP_GRACE_S
    handler: str = SAMPLE_HANDLER
    launcher: Launcher | None = None  # None: `hookstack consumer` with the settings above
    running: dict[int, ConsumerProcess] = field(default_factory=dict)
    started: int = 0

    def start(self) -> ConsumerProcess:
        if self.started >= self.max_started:
            raise FleetExhausted(f"{self.started} consumers started, the fleet's bound")
        self.started += 1
        log_path = self.log_dir / f"consumer-{self.started}.log"
        if self.launcher is not None:
            process = self.launcher(log_path)
        else:
            process = start_consumer(
                log_path, handler=self.handler, target=self.target, stage=self.stage, concurrency=self.concurrency
            )
        self.running[process.pid] = process
        return process

    def pids(self) -> set[int]:
        """The consumers still running (one that ended by itself is dropped)."""
        for pid in [pid for pid, process in self.running.items() if not process.alive()]:
            del self.running[pid]
        return set(self.running)

    def stop_all(self) -> None:
        """SIGTERM to every consumer at once (they stop together, not one grace after another),
        then each waited for ``stop_grace_s`` and signalled again, which quits at once (then SIGKILL)."""
        for pid in list(self.running):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in list(self.running):
            process = self.running.pop(pid)
            try:
                process.wait(self.stop_grace_s)
            except subprocess.TimeoutExpired:
                process.stop(timeout_s=self.stop_grace_s)

    def log_tails(self, lines: int = 5) -> dict[str, str]:
        return {path.name: log_tail(path, lines) for path in sorted(self.log_dir.glob("consumer-*.log"))}

    def __enter__(self) -> ConsumerFleet:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop_all()
