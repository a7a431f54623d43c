"""Per-hop durations (authorizer, producer, worker) from the functions' logs, where a target
keeps them: the embedded target writes ``<log_dir>/<function-name>.log`` per function, holding
the handlers' structured JSON lines (``"duration_ms"``) and Lambda-style ``REPORT`` lines.

Only what the run appended is read: offsets are taken before the load starts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from loadtests import latency

HOPS: tuple[str, ...] = ("authorizer", "producer", "worker")
NOT_AVAILABLE = "not available on this target"
_REPORT = re.compile(r"^REPORT RequestId:\s*\S+\s+Duration:\s*([0-9.]+)\s*ms")


def log_files(log_dir: Path | None, function_names: dict[str, str]) -> dict[str, Path]:
    if log_dir is None:
        return {}
    return {hop: Path(log_dir) / f"{function_names[hop]}.log" for hop in HOPS if hop in function_names}


def offsets(files: dict[str, Path]) -> dict[str, int]:
    """Current sizes: where this run's lines will start."""
    return {hop: path.stat().st_size if path.exists() else 0 for hop, path in files.items()}


def exact_stats(values: list[float]) -> dict[str, float | int | None]:
    return {"count": len(values), **latency.nearest_rank(
        values, {"p50_ms": 50, "p90_ms": 90, "p99_ms": 99, "max_ms": 100})}


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


def read_hops(files: dict[str, Path], start_offsets: dict[str, int]) -> dict[str, Any]:
    """``{hop: {"handler": stats, "runtime": stats}}``, or ``{"available": False, ...}``."""
    if not files or not any(path.exists() for path in files.values()):
        return {"available": False, "reason": NOT_AVAILABLE}
    hops: dict[str, Any] = {"available": True}
    for hop, path in files.items():
        if not path.exists():
            hops[hop] = {"available": False, "reason": f"no log file {path.name}"}
            continue
        with path.open("rb") as handle:
            handle.seek(start_offsets.get(hop, 0))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
        handler, runtime = parse_lines(lines)
        hops[hop] = {"available": True, "handler": exact_stats(handler), "runtime": exact_stats(runtime)}
    return hops
