"""The consumer machines of a ``partner-jobs`` run: a consumer fleet
(:mod:`stack.jobs_consumer.fleet`) of ``--consumers`` processes with the sample job handler,
started before the load and stopped when the follow-up ends — on an error or Ctrl-C too (a context
manager). Each writes its own log in the report directory."""

from __future__ import annotations

from pathlib import Path

from stack.errors import UsageError
from stack.jobs_consumer.fleet import ConsumerFleet

MAX_CONSUMERS = 16  # processes on this machine: each is a Python interpreter with boto3
CONCURRENCY = 2  # jobs at once per consumer
STOP_GRACE_S = 5.0  # SIGTERM: running jobs finish (the sample's work is under a second), long polls end


class LoadConsumers(ConsumerFleet):
    """``count`` consumers, all started on entering, all stopped on leaving."""

    def __init__(self, stage: str, target: str, log_dir: Path, count: int, concurrency: int = CONCURRENCY) -> None:
        if not 1 <= count <= MAX_CONSUMERS:
            raise UsageError(f"--consumers {count}: give 1 to {MAX_CONSUMERS}")
        super().__init__(stage, target, log_dir, concurrency=concurrency, max_started=count, stop_grace_s=STOP_GRACE_S)
        self.count = count

    def __enter__(self) -> LoadConsumers:
        try:
            for _ in range(self.count):
                self.start()
        except BaseException:
            self.stop_all()
            raise
        return self

    def alive(self) -> int:
        return len(self.pids())
