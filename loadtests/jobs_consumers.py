"""The consumer machines of a ``partner-jobs`` run: ``hookstack consumer`` child processes with the
sample job handler, started before the load and stopped when the follow-up ends — on an error
or Ctrl-C too (a context manager). Each writes its own log in the report directory."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from stack.errors import UsageError
from stack.jobs_consumer.process import SAMPLE_HANDLER, ConsumerProcess, start_consumer

MAX_CONSUMERS = 16  # processes on this machine: each is a Python interpreter with boto3
CONCURRENCY = 2  # jobs at once per consumer
STOP_GRACE_S = 5.0  # SIGTERM: running jobs finish (the sample's work is under a second), long polls end


@dataclass
class LoadConsumers:
    stage: str
    target: str
    log_dir: Path
    count: int
    concurrency: int = CONCURRENCY
    processes: list[ConsumerProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_CONSUMERS:
            raise UsageError(f"--consumers {self.count}: give 1 to {MAX_CONSUMERS}")

    def __enter__(self) -> LoadConsumers:
        try:
            for index in range(self.count):
                self.processes.append(
                    start_consumer(
                        self.log_dir / f"consumer-{index + 1}.log",
                        handler=SAMPLE_HANDLER,
                        target=self.target,
                        stage=self.stage,
                        concurrency=self.concurrency,
                    )
                )
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def alive(self) -> int:
        return sum(1 for process in self.processes if process.alive())

    def stop(self) -> None:
        """SIGTERM to every consumer at once (they stop together, not one grace after another),
        then each waited for; SIGKILL past the grace."""
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self.processes:
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.stop(timeout_s=0.0)
        self.processes = []
