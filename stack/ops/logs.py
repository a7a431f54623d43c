"""A function's log lines: from the embedded target's log file, or from CloudWatch Logs.

An embedded log holds the runtime's lines (``START``/``END``/``REPORT``, as Lambda writes them,
without a time) and the handlers' Powertools JSON lines (with a ``timestamp``). ``--since`` needs a
time per line: an untimed line takes the time of the timed line before it (a line before any
takes the first time found after it, and a file without any its modification time).

Following is bounded: it stops when ``keep_going`` says so (the stack went down), at a deadline,
or on Ctrl-C in the caller.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The newest part of a log read at once: an old session's log can be large.
MAX_READ_BYTES = 32 * 1024 * 1024
FOLLOW_POLL_S = 0.5
CLOUDWATCH_POLL_S = 2.0
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S,%f%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z")


def line_time(line: str) -> float | None:
    """The epoch seconds of a structured line's ``timestamp``; None for a line without one."""
    if not line.startswith("{"):
        return None
    try:
        stamp = json.loads(line).get("timestamp")
    except (ValueError, AttributeError):
        return None
    if isinstance(stamp, int | float):
        return stamp / 1000 if stamp > 1e11 else float(stamp)  # epoch ms or s
    if not isinstance(stamp, str):
        return None
    for layout in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(stamp.replace("Z", "+0000"), layout).timestamp()
        except ValueError:
            continue
    return None


def _read_tail(path: Path) -> tuple[list[str], int]:
    """The file's whole lines (its last MAX_READ_BYTES) and the offset after them."""
    with path.open("rb") as file:
        size = file.seek(0, 2)
        start = max(0, size - MAX_READ_BYTES)
        file.seek(start)
        data = file.read(size - start)
    if start > 0:
        data = data[data.find(b"\n") + 1 :]  # a cut first line is no line
    end = data.rfind(b"\n") + 1  # a last line still being written waits for its newline
    return data[:end].decode("utf-8", errors="replace").splitlines(), size - (len(data) - end)


def timed_lines(lines: list[str], fallback: float) -> list[tuple[float, str]]:
    """Each line with its time (see the module's note)."""
    times = [line_time(line) for line in lines]
    first = next((t for t in times if t is not None), fallback)
    timed, last = [], first
    for stamp, line in zip(times, lines, strict=True):
        last = stamp if stamp is not None else last
        timed.append((last, line))
    return timed


def read_log(path: Path, since: float | None = None) -> tuple[list[str], int]:
    """The log's lines (those from ``since`` epoch seconds on, when given) and where a follow goes on."""
    lines, offset = _read_tail(path)
    if since is None:
        return lines, offset
    return [line for at, line in timed_lines(lines, path.stat().st_mtime) if at >= since], offset


def follow_log(
    path: Path,
    offset: int,
    *,
    keep_going: Callable[[], bool],
    deadline: float,
    poll_s: float = FOLLOW_POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """Lines appended after ``offset``, as they come, until ``keep_going()`` is false or ``deadline``
    (on ``clock``) passes. A file that shrank (rotated by a new `up`) is read from its start."""
    pending = b""
    while clock() < deadline and keep_going():
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < offset:
            offset, pending = 0, b""
        if size > offset:
            with path.open("rb") as file:
                file.seek(offset)
                chunk = file.read(size - offset)
            offset += len(chunk)
            *complete, pending = (pending + chunk).split(b"\n")
            for raw in complete:
                yield raw.decode("utf-8", errors="replace")
            continue
        sleep(poll_s)


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def cloudwatch_lines(
    logs_client: Any, function_name: str, start_ms: int, end_ms: int | None = None
) -> Iterator[tuple[int, str]]:
    """(epoch ms, message) of the function's log events from ``start_ms`` on, oldest first."""
    paginator = logs_client.get_paginator("filter_log_events")
    arguments: dict[str, Any] = {"logGroupName": log_group(function_name), "startTime": start_ms}
    if end_ms is not None:
        arguments["endTime"] = end_ms
    for page in paginator.paginate(**arguments):
        for event in page.get("events", []):
            yield int(event["timestamp"]), str(event["message"]).rstrip("\n")


def follow_cloudwatch(
    logs_client: Any,
    function_name: str,
    start_ms: int,
    *,
    deadline: float,
    poll_s: float = CLOUDWATCH_POLL_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[str]:
    """New events as they arrive, polled, until ``deadline``. An event is shown once: the next poll
    starts at the newest time seen and skips the ids already shown at that time."""
    newest, shown_at_newest = start_ms, set[str]()
    while clock() < deadline:
        paginator = logs_client.get_paginator("filter_log_events")
        for page in paginator.paginate(logGroupName=log_group(function_name), startTime=newest):
            for event in page.get("events", []):
                stamp, event_id = int(event["timestamp"]), str(event.get("eventId", ""))
                if stamp == newest and event_id in shown_at_newest:
                    continue
                if stamp > newest:
                    newest, shown_at_newest = stamp, set()
                shown_at_newest.add(event_id)
                yield str(event["message"]).rstrip("\n")
        sleep(poll_s)
