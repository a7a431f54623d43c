"""How many environments a function's pool may run when no reserved concurrency fixes the number.

A fixed ``CPU count + 2`` suits a function that computes. The webhook path's functions mostly wait:
the producer's two emulator calls are most of its 70–100 ms on a busy emulator while its own CPU is a
few milliseconds. Four such environments on a 2-core machine cap the API at about 4 / 0.08 s = 50
requests/s with both cores half idle; requests then queue in front of the pool, which is what the
acknowledgement latency measured.

The rule, from each invocation's wall time, CPU time and time waiting for a CPU (the runtime reports
all three; the last from Linux's schedstat): ``N`` environments that each spend a share ``w`` of their
time needing no CPU (waiting on I/O: neither running nor runnable) keep ``N × (1 − w)`` cores busy, so

    limit = ceil(cores / (1 − w))          within [cores + 2, LOCAL_MAX_ENVIRONMENTS]

lets the pool's own CPU demand reach the machine's cores, never more. A CPU-bound function
(``w`` near 0) keeps ``cores + 2``; one that waits 90 % of the time may grow to ``10 × cores``,
bounded by the same local ceiling the event plane uses. Time spent runnable but not running counts
as needing a core: on a machine whose CPUs are already saturated the functions do not look I/O-bound,
and the pool does not grow into the contention. ``w`` is measured, not assumed: a decaying average
over recent invocations, so the limit follows the function as its waits change; before any
measurement (or where the runtime cannot report CPU time) the pool is ``cores + 2`` as before. The
arrival rate, not the limit, decides how much CPU the function uses: the limit only lets more of its
invocations wait on I/O at once. Idle environments are kept (Lambda keeps them warm too); they cost
memory, not CPU.
"""

from __future__ import annotations

import math
import os

# The most environments one function runs on one machine (the event plane's ceiling too).
LOCAL_MAX_ENVIRONMENTS = 16
# Weight of the past in the wait-share average, per invocation: about the last 50 invocations count.
DECAY = 0.98
# Wall time observed before the measured share replaces the CPU-bound default (a few invocations).
MIN_OBSERVED_MS = 200.0


def cpu_bound_pool_size(cores: int | None = None) -> int:
    return (cores or os.cpu_count() or 1) + 2


class WaitShareSizer:
    """The pool size limit of one function, from the measured share of its time spent waiting."""

    def __init__(self, cores: int | None = None, ceiling: int = LOCAL_MAX_ENVIRONMENTS) -> None:
        self.cores = cores or os.cpu_count() or 1
        self.floor = cpu_bound_pool_size(self.cores)
        self.ceiling = max(self.floor, ceiling)
        self._wall_ms = 0.0
        self._cpu_ms = 0.0

    def record(self, duration_ms: float, cpu_ms: float | None, cpu_wait_ms: float | None = None) -> None:
        """One finished invocation: its wall time, the environment's CPU time during it and its time
        waiting for a CPU (None: unknown, counted as none)."""
        if cpu_ms is None or duration_ms <= 0 or cpu_ms < 0:
            return  # a runtime that does not report CPU time: the limit stays where it is
        needed = cpu_ms + max(cpu_wait_ms or 0.0, 0.0)
        self._wall_ms = self._wall_ms * DECAY + duration_ms
        # Threads can burn more CPU than wall time: such an invocation waited for nothing.
        self._cpu_ms = self._cpu_ms * DECAY + min(needed, duration_ms)

    @property
    def wait_share(self) -> float | None:
        if self._wall_ms < MIN_OBSERVED_MS:
            return None
        return 1.0 - self._cpu_ms / self._wall_ms

    def limit(self) -> int:
        wait = self.wait_share
        if wait is None:
            return self.floor
        busy = max(1.0 - wait, 1.0 / self.ceiling)
        # The epsilon: a share of exactly 0.2 read back as 0.19999… must not add an environment.
        return max(self.floor, min(self.ceiling, math.ceil(self.cores / busy - 1e-9)))
