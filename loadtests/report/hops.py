"""Per-hop durations (authorizer, producer, worker).

Authorizer and producer: from the functions' logs, where a target keeps them: the embedded target
writes ``<log_dir>/<function-name>.log`` per function, holding the handlers' structured JSON lines
(``"duration_ms"``) and Lambda-style ``REPORT`` lines. Only what the run appended is read: offsets
are taken before the load starts.

Worker: from the events table, on every target (on the embedded target the emulator's event
source mapping runs it and keeps no log file): ``processed_at - processing_at`` of each
acknowledged event, the time its last attempt spent between the two status writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from stack.percentiles import percentiles

HOPS: tuple[str, ...] = ("authorizer", "producer", "worker")
LOGGED_HOPS: tuple[str, ...] = ("authorizer", "producer")
NOT_AVAILABLE = "not available on this target"
LOGS_SOURCE = "function logs"
EVENTS_TABLE_SOURCE = "events table"
WORKER_BASIS = "processed_at - processing_at of each processed event (its last attempt)"
_REPORT = re.compile(r"^REPORT RequestId:\s*\S+\s+Duration:\s*([0-9.]+)\s*ms")


def log_files(log_dir: Path | None, function_names: dict[str, str]) -> dict[str, Path]:
    if log_dir is None:
        return {}
    return {hop: Path(log_dir) / f"{function_names[hop]}.log" for hop in LOGGED_HOPS if hop in function_names}


def offsets(files: dict[str, Path]) -> dict[str, int]:
    """Current sizes: where this run's lines will start."""
    return {hop: path.stat().st_size if path.exists() else 0 for hop, path in files.items()}


def exact_stats(values: list[float]) -> dict[str, float | int | None]:
    """count, mean and exact percentiles in ms (None when empty). The mean is what Lambda bills:
    ``hookstack cost`` reads ``per_hop.<hop>.runtime.mean_ms`` (else ``handler.mean_ms``)."""
    mean = round(sum(values) / len(values), 3) if values else None
    return {
        "count": len(values),
        "mean_ms": mean,
        **percentiles(values, {"p50_ms": 50, "p90_ms": 90, "p99_ms": 99, "max_ms": 100}, digits=3),
    }


def parse_lines(lines: list[str]) -> tuple[list[float], list[float]]:
    """(handler-logged duration_ms values, REPORT Duration values)."""
    handler: list[float] = []
    runtime: list[float] = []
    for line in lines:
        text = line.strip()
        if text.startswith("{"):
            try:
                record = json.loads(text)
            except ValueError:
                continue
            value = record.get("duration_ms") if isinstance(record, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool):
                handler.append(float(value))
            continue
        match = _REPORT.match(text)
        if match:
            runtime.append(float(match.group(1)))
    return handler, runtime


def read_logged_hops(files: dict[str, Path], start_offsets: dict[str, int]) -> dict[str, Any]:
    """``{hop: {"available", "source", "handler": stats, "runtime": stats}}`` for the logged hops."""
    hops: dict[str, Any] = {}
    for hop in LOGGED_HOPS:
        path = files.get(hop)
        if path is None:
            hops[hop] = {"available": False, "reason": NOT_AVAILABLE}
            continue
        if not path.exists():
            hops[hop] = {"available": False, "reason": f"no log file {path.name}"}
            continue
        with path.open("rb") as handle:
            handle.seek(start_offsets.get(hop, 0))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
        handler, runtime = parse_lines(lines)
        hops[hop] = {
            "available": True,
            "source": LOGS_SOURCE,
            "handler": exact_stats(handler),
            "runtime": exact_stats(runtime),
        }
    return hops


def worker_hop(durations_ms: list[float] | None, reason: str | None = None) -> dict[str, Any]:
    """The worker's figure from the events table; ``durations_ms`` None when it was not read."""
    if durations_ms is None:
        return {"available": False, "reason": reason or "events table not read"}
    return {
        "available": True,
        "source": EVENTS_TABLE_SOURCE,
        "basis": WORKER_BASIS,
        "handler": exact_stats(durations_ms),
    }


def read_hops(
    files: dict[str, Path],
    start_offsets: dict[str, int],
    *,
    worker_ms: list[float] | None = None,
    worker_reason: str | None = None,
) -> dict[str, Any]:
    """``{"available": any hop measured, hop: {...}}`` for every hop of ``HOPS``."""
    hops: dict[str, Any] = {**read_logged_hops(files, start_offsets), "worker": worker_hop(worker_ms, worker_reason)}
    available = any(hops[hop].get("available") for hop in HOPS)
    if not available:
        return {"available": False, "reason": NOT_AVAILABLE, **hops}
    return {"available": True, **hops}
