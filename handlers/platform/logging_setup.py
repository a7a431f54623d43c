"""One Powertools JSON logger per function. Every invocation logs at least one line with
``function``, ``duration_ms``, ``event_id`` and ``status``: the load reports build their per-hop
breakdown from these lines (and a function that writes nothing is slower on the embedded emulator)."""

from __future__ import annotations

import time

from aws_lambda_powertools import Logger


def function_logger(function: str) -> Logger:
    # POWERTOOLS_SERVICE_NAME / POWERTOOLS_LOG_LEVEL from the environment win when set.
    return Logger(service=f"hookstack-{function}")


def elapsed_ms(started: float) -> float:
    """Milliseconds since ``started`` (a ``time.perf_counter()`` value), 3 decimals."""
    return round((time.perf_counter() - started) * 1000, 3)
