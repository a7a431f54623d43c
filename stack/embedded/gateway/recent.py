"""The gateway's recent answers: how long the last few seconds of requests took, 2xx apart.

A live view (``hookstack top``) asks "how is the stage doing now", which the counters since
start cannot say. The window is bounded both ways: answers older than ``window_s`` are dropped,
and at most ``max_samples`` are kept (at a rate above ``max_samples / window_s`` the figures
cover the most recent part of the window only: ``covered_s``, otherwise ``window_s``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from stack.percentiles import percentiles

WINDOW_S = 10.0
MAX_SAMPLES = 20_000
_REPORTED = {"p50": 50, "p99": 99, "max": 100}


class RecentAnswers:
    """(when, status, latency) of the answers of the last ``window_s`` seconds."""

    def __init__(
        self,
        window_s: float = WINDOW_S,
        max_samples: int = MAX_SAMPLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._answers: deque[tuple[float, int, float]] = deque(maxlen=max_samples)

    def record(self, status: int, latency_ms: float) -> None:
        self._answers.append((self._clock(), status, latency_ms))

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self._answers and self._answers[0][0] < horizon:
            self._answers.popleft()

    def snapshot(self) -> dict[str, Any]:
        """``{"window_s", "covered_s", "acks": {count, p50_ms, p99_ms, max_ms}, "others": {…},
        "statuses": {status: count}}``: 2xx answers (acknowledgements) and the rest apart."""
        now = self._clock()
        self._expire(now)
        acks = [ms for _, status, ms in self._answers if 200 <= status < 300]
        others = [ms for _, status, ms in self._answers if not 200 <= status < 300]
        statuses: dict[str, int] = {}
        for _, status, _ in self._answers:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        full = len(self._answers) == self._answers.maxlen
        covered = now - self._answers[0][0] if full else self.window_s
        return {
            "window_s": self.window_s,
            "covered_s": round(min(self.window_s, covered), 3),
            "acks": self._figures(acks),
            "others": self._figures(others),
            "statuses": dict(sorted(statuses.items())),
        }

    @staticmethod
    def _figures(values: list[float]) -> dict[str, Any]:
        named = percentiles(values, _REPORTED, digits=2)
        return {"count": len(values), **{f"{name}_ms": value for name, value in named.items()}}
