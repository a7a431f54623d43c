"""The consumer-crash drill's fleet: the shared consumer fleet (:mod:`stack.jobs_consumer.fleet`)
plus what only this drill does: kill a consumer (SIGKILL, as a machine dies), and the sabotage, a
fleet of consumers that delete each job before running it (:mod:`chaos.delete_first_consumer`)."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stack.embedded.processes import start_module
from stack.jobs_consumer.fleet import ConsumerFleet, Launcher
from stack.jobs_consumer.process import ConsumerProcess

KILL_WAIT_S = 10.0


@dataclass
class CrashDrillFleet(ConsumerFleet):
    killed: list[int] = field(default_factory=list)

    def kill(self, pid: int) -> None:
        """SIGKILL: no grace, no report, no delete — as when the machine dies."""
        process = self.running.pop(pid)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.wait(KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            process.stop(timeout_s=0.0)
        self.killed.append(pid)


def delete_first_launcher(stage: str, target: str, concurrency: int) -> Launcher:
    """Starts ``python -m chaos.delete_first_consumer`` instead of ``hookstack consumer``."""

    def launch(log_path: Path) -> ConsumerProcess:
        args = ["--target", target, "--stage", stage, "--concurrency", str(concurrency)]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        child = start_module("chaos.delete_first_consumer", args, log_path)
        return ConsumerProcess(child.pid, log_path, child)

    return launch
