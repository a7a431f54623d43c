"""Where hookstack keeps its state: the home (outputs, emulator state, logs) and the artifact cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def hookstack_home() -> Path:
    return Path(os.environ.get("HOOKSTACK_HOME", ".hookstack")).resolve()


def build_dir() -> Path:
    """Where Lambda artifacts are built and cached. Content-addressed, so several homes (test
    sessions, drill stacks) may share one through ``HOOKSTACK_BUILD_DIR``."""
    return Path(os.environ.get("HOOKSTACK_BUILD_DIR") or hookstack_home() / "build").resolve()


@contextmanager
def use_home(path: Path) -> Iterator[Path]:
    """Run with ``path`` as the hookstack home (a private stack for tests and drills), then restore."""
    previous = os.environ.get("HOOKSTACK_HOME")
    os.environ["HOOKSTACK_HOME"] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop("HOOKSTACK_HOME", None)
        else:
            os.environ["HOOKSTACK_HOME"] = previous
