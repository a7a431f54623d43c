"""Where hookstack keeps its state: the home (outputs, emulator state, logs) and the artifact cache.

The home is ``HOOKSTACK_HOME`` when set, else ``.hookstack`` in the project's root: the nearest of
the working directory and its parents that holds a ``.hookstack`` directory or a ``hookstack.toml``
(as git finds ``.git``), so every command finds the stack `hookstack up` started from any
subdirectory of the project.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOME_ENV = "HOOKSTACK_HOME"
HOME_DIR_NAME = ".hookstack"
CONFIG_FILE_NAME = "hookstack.toml"


def project_root(start: Path | None = None) -> Path:
    """The nearest of ``start`` (default: the working directory) and its parents holding a
    ``.hookstack`` directory or a ``hookstack.toml``; ``start`` itself when none does."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / HOME_DIR_NAME).is_dir() or (directory / CONFIG_FILE_NAME).is_file():
            return directory
    return here


def config_file() -> Path:
    """The project's ``hookstack.toml`` (it may not exist): beside the home, or ``HOOKSTACK_CONFIG``."""
    explicit = os.environ.get("HOOKSTACK_CONFIG")
    return Path(explicit) if explicit else project_root() / CONFIG_FILE_NAME


def hookstack_home() -> Path:
    explicit = os.environ.get(HOME_ENV)
    if explicit:
        return Path(explicit).resolve()
    return project_root() / HOME_DIR_NAME


def build_dir() -> Path:
    """Where Lambda artifacts are built and cached. Content-addressed, so several homes (test
    sessions, drill stacks) may share one through ``HOOKSTACK_BUILD_DIR``."""
    return Path(os.environ.get("HOOKSTACK_BUILD_DIR") or hookstack_home() / "build").resolve()


@contextmanager
def use_home(path: Path) -> Iterator[Path]:
    """Run with ``path`` as the hookstack home (a private stack for tests and drills), then restore."""
    previous = os.environ.get(HOME_ENV)
    os.environ[HOME_ENV] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(HOME_ENV, None)
        else:
            os.environ[HOME_ENV] = previous
