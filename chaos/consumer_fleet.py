"""The consumer machines a jobs drill runs: child processes it starts, kills (SIGKILL, as a machine
dies) and stops, each with its own log. Bounded: at most ``max_started`` processes over a drill,
and every one is stopped at the end whatever happened."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stack.embedded.processes import log_tail, start_module
from stack.errors import HookstackError
from stack.jobs_consumer.process import ConsumerProcess, start_consumer

STOP_GRACE_S = 3.0  # every job is final when the fleet stops: idle workers only, in their long poll
KILL_WAIT_S = 10.0


class FleetExhausted(HookstackError):
    """The drill asked for more consumer processes than its bound."""


@dataclass
class ConsumerFleet:
    stage: str
    target: str
    log_dir: Path
    concurrency: int = 2
    delete_first: bool = False  # the sabotage: chaos.delete_first_consumer instead of `hookstack consumer`
    max_started: int = 12
    alive: dict[int, ConsumerProcess] = field(default_factory=dict)
    started: int = 0
    killed: list[int] = field(default_factory=list)

    def start(self) -> ConsumerProcess:
        if self.started >= self.max_started:
            raise FleetExhausted(f"the drill started {self.started} consumers, its bound")
        self.started += 1
        log_path = self.log_dir / f"consumer-{self.started}.log"
        if self.delete_first:
            args = ["--target", self.target, "--stage", self.stage, "--concurrency", str(self.concurrency)]
            log_path.parent.mkdir(parents=True, exist_ok=True)
            child = start_module("chaos.delete_first_consumer", args, log_path)
            process = ConsumerProcess(child.pid, log_path, child)
        else:
            process = start_consumer(log_path, target=self.target, stage=self.stage, concurrency=self.concurrency)
        self.alive[process.pid] = process
        return process

    def kill(self, pid: int) -> None:
        """SIGKILL: no grace, no report, no delete — as when the machine dies."""
        process = self.alive.pop(pid)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.wait(KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            process.stop(timeout_s=0.0)
        self.killed.append(pid)

    def pids(self) -> set[int]:
        """The consumers still running (one that ended by itself is dropped)."""
        for pid in [pid for pid, process in self.alive.items() if not process.alive()]:
            del self.alive[pid]
        return set(self.alive)

    def stop_all(self) -> None:
        """SIGTERM to every consumer at once (no new job; idle long polls end), then each is waited
        for a moment and signalled again, which quits at once (then SIGKILL)."""
        for pid in list(self.alive):
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in list(self.alive):
            process = self.alive.pop(pid)
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.stop(timeout_s=STOP_GRACE_S)

    def log_tails(self, lines: int = 5) -> dict[str, str]:
        return {path.name: log_tail(path, lines) for path in sorted(self.log_dir.glob("consumer-*.log"))}
