"""The embedded target's function logs: ``<home>/embedded/logs/<stage>/<function>.log``.

The data plane (gateway and event plane) opens one append-mode file per function it runs and
every execution environment writes its stdout/stderr there. The folder outlives `hookstack down`,
so a run can be read after the stack is gone; a fresh `hookstack up` moves the previous session's
logs aside (``<stage>.previous``, one generation) instead of appending to them. A manifest says
which function is which, since the outputs file goes with `down`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "functions.json"
PREVIOUS_SUFFIX = ".previous"


def logs_dir(home: Path, stage: str) -> Path:
    return home / "embedded" / "logs" / stage


@dataclass(frozen=True)
class StageLogs:
    """The function logs of one embedded stage, as its last `hookstack up` left them."""

    directory: Path
    function_names: dict[str, str]  # short name (worker) → deployed name
    gateway: str
    event_plane: str

    def path(self, function: str) -> Path:
        return self.directory / f"{self.function_names[function]}.log"

    def runs_here(self, function: str) -> bool:
        """Whether hookstack's data plane runs the function (and so keeps its log): the gateway
        serves the API's functions, the event plane the queue's consumers; the emulator's own
        executor (``--gateway ministack`` / ``--event-plane ministack``) logs into its own log."""
        return self.path(function).exists()


def write_manifest(directory: Path, function_names: dict[str, str], *, gateway: str, event_plane: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {"function_names": function_names, "gateway": gateway, "event_plane": event_plane}
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))


def read_manifest(home: Path, stage: str) -> StageLogs | None:
    """The stage's logs, or None when no `hookstack up` of this stage left any."""
    directory = logs_dir(home, stage)
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    return StageLogs(directory, dict(manifest["function_names"]), manifest["gateway"], manifest["event_plane"])


def rotate(home: Path, stage: str) -> None:
    """Move the stage's logs to ``<stage>.previous`` (replacing an older generation)."""
    directory = logs_dir(home, stage)
    if not directory.exists():
        return
    previous = directory.with_name(directory.name + PREVIOUS_SUFFIX)
    shutil.rmtree(previous, ignore_errors=True)
    directory.rename(previous)
