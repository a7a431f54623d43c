"""`hookstack up --watch`: after `up`, poll the handler sources and redeploy in place when they change.

A change is seen in the files' modification times and sizes (polled every ``interval``), waited on
until a poll finds nothing new (an editor or a checkout writing several files gives one redeploy),
then confirmed by the artifact's content hash: a file saved unchanged redeploys nothing. The
redeploy itself is the caller's (``up`` on the running stack: the endpoint keeps its URL). A
failed redeploy is reported and the watch goes on; the stack stays as the failure left it (a failed
deploy leaves it as it was). The watch is bounded: it stops after ``max_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stack.deploy.package import REPO_ROOT, artifact_digest, artifact_inputs, host_platform

POLL_INTERVAL_S = 1.0
MAX_WATCH_S = 12 * 3600.0  # a working day and then some; `hookstack up --watch` again to go on

Stamp = tuple[int, int]  # (mtime in ns, size in bytes)


class SourceTree(Protocol):
    """The files a deploy packages: their stamps, and the hash of their content."""

    def stamps(self) -> dict[str, Stamp]: ...

    def digest(self) -> str | None:
        """The content hash, or None while it cannot be read (a file went away mid-read)."""
        ...


class HandlerSources:
    """The artifact's inputs on disk (``stack.deploy.package``): the handlers and their requirements."""

    def stamps(self) -> dict[str, Stamp]:
        found: dict[str, Stamp] = {}
        for path in artifact_inputs():
            try:
                stat = path.stat()
            except OSError:  # removed between the listing and the stat: gone
                continue
            found[_relative(path)] = (stat.st_mtime_ns, stat.st_size)
        return found

    def digest(self) -> str | None:
        try:
            return artifact_digest(host_platform())  # the embedded target's artifact
        except OSError:
            return None


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


class HandlerChanges:
    """What changed in a source tree since the last look, and whether its content differs from
    what was last deployed. Made before the first deploy, so an edit during it is not missed."""

    def __init__(self, tree: SourceTree) -> None:
        self._tree = tree
        self._stamps = tree.stamps()
        self._deployed = tree.digest()

    def touched(self) -> set[str]:
        """The files added, removed or rewritten since the last call."""
        stamps = self._tree.stamps()
        names = set(stamps) | set(self._stamps)
        touched = {name for name in names if stamps.get(name) != self._stamps.get(name)}
        self._stamps = stamps
        return touched

    def undeployed_digest(self) -> str | None:
        """The content hash when it differs from the deployed one, else None."""
        digest = self._tree.digest()
        return digest if digest is not None and digest != self._deployed else None

    def deployed(self, digest: str) -> None:
        self._deployed = digest


@dataclass(frozen=True)
class Redeploy:
    """One redeploy the watch ran: the files that set it off, how long it took, and its error."""

    files: list[str]
    seconds: float
    error: Exception | None = None


@dataclass(frozen=True)
class WatchEnd:
    redeploys: int
    failed: int
    timed_out: bool  # stopped at max_seconds (not by Ctrl-C, which propagates)


def watch(
    changes: HandlerChanges,
    redeploy: Callable[[], object],
    report: Callable[[Redeploy], None],
    *,
    interval: float = POLL_INTERVAL_S,
    max_seconds: float = MAX_WATCH_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WatchEnd:
    """Poll every ``interval`` until ``max_seconds`` have passed; redeploy each settled change.
    Ctrl-C (KeyboardInterrupt) is not caught: the caller decides what stopping means."""
    deadline = clock() + max_seconds
    pending: set[str] = set()
    redeploys = failed = 0
    for _ in range(int(max_seconds / interval) + 1):  # the deadline below ends it first when redeploys take time
        if clock() >= deadline:
            break
        sleep(interval)
        touched = changes.touched()
        if touched:
            pending |= touched  # still being written: wait for a quiet poll
            continue
        if not pending:
            continue
        files, pending = sorted(pending), set()
        digest = changes.undeployed_digest()
        if digest is None:
            continue
        started = clock()
        try:
            redeploy()
        except Exception as exc:  # noqa: BLE001 - any failure is reported, and the watch goes on
            failed += 1
            report(Redeploy(files, clock() - started, exc))
            continue
        changes.deployed(digest)
        redeploys += 1
        report(Redeploy(files, clock() - started))
    return WatchEnd(redeploys, failed, timed_out=True)
