"""Resident memory of the embedded stack's processes, sampled in the background: the gateway, each
function's environments, the emulator — found by the private hookstack home in their command line
(the gateway's environments as its children). The load generator is not the stack: left out."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MIB = 1024 * 1024


def role_of(process: psutil.Process) -> str | None:
    """What a process of the stack is: ``gateway``, ``env <function>``, ``emulator``, or another
    named part; None for what is not the stack (the load generator, this benchmark)."""
    try:
        command = " ".join(process.cmdline())
        if "loadtests" in command or "locust" in command:
            return None
        if "stack.embedded.gateway" in command:
            return "gateway"
        if "runtime.py" in command:
            name = process.environ().get("AWS_LAMBDA_FUNCTION_NAME", "?")
            return f"env {name.rsplit('-', 1)[-1]}"
        if "event_plane" in command:
            return "event plane"
        if "ministack" in command.lower():
            return "emulator"  # its own function workers included: they are its children
        return None
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def stack_processes(home: Path) -> dict[int, str]:
    """pid → role of every process of the stack running under ``home``."""
    found: dict[int, str] = {}
    for process in psutil.process_iter(["cmdline", "cwd"]):
        try:
            # The gateway names the home in its arguments; the emulator runs in a directory under it.
            if str(home) not in " ".join(process.info["cmdline"] or ()) and str(home) not in (
                process.info["cwd"] or ""
            ):
                continue
            members = [process, *process.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        for member in members:
            role = role_of(member)
            if role is not None:
                found[member.pid] = role
    return found


@dataclass
class RoleMemory:
    """One role's resident memory (MiB): summed over its processes (environments: several)."""

    first_mib: float | None = None
    last_mib: float | None = None
    peak_mib: float = 0.0
    processes_first: int = 0
    processes_last: int = 0

    def add(self, mib: float, processes: int) -> None:
        if self.first_mib is None:
            self.first_mib, self.processes_first = mib, processes
        self.last_mib, self.processes_last = mib, processes
        self.peak_mib = max(self.peak_mib, mib)


@dataclass
class MemorySampler:
    """Samples every ``interval_s`` in a daemon thread until ``stop()``; ``mark(label)`` keeps a
    snapshot (role → MiB) for the report."""

    home: Path
    interval_s: float = 2.0
    roles: dict[str, RoleMemory] = field(default_factory=dict)
    marks: dict[str, dict[str, float]] = field(default_factory=dict)
    pids_seen: dict[str, set[int]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def snapshot(self) -> dict[str, float]:
        """role → resident MiB now (summed per role)."""
        totals: dict[str, float] = {}
        counts: dict[str, int] = {}
        for pid, role in stack_processes(self.home).items():
            try:
                rss = psutil.Process(pid).memory_info().rss / MIB
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            totals[role] = totals.get(role, 0.0) + rss
            counts[role] = counts.get(role, 0) + 1
            with self._lock:
                self.pids_seen.setdefault(role, set()).add(pid)
        with self._lock:
            for role, mib in totals.items():
                self.roles.setdefault(role, RoleMemory()).add(mib, counts[role])
        return {role: round(mib, 1) for role, mib in sorted(totals.items())}

    def mark(self, label: str) -> dict[str, float]:
        taken = self.snapshot()
        self.marks[label] = taken
        return taken

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.snapshot()
            self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
