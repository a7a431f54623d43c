"""Shared fixtures. Integration tests deploy to the embedded target in a private hookstack home.

The suite runs under pytest-xdist (``addopts`` in pyproject.toml): each worker is its own process,
and its session and module fixtures bring up its own stacks, each in its own hookstack home on
free ports. ``--dist loadscope``: a test module, or a test class, is one unit of work, handed to
one worker, so module fixtures run once per unit; the chaos drills are split into classes, so their
drill stacks run side by side. (Not ``loadgroup``: on pytest 9.2 it silently ignores
``xdist_group``, pytest-dev/pytest-xdist#1386.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# The shared rigs assert: keep pytest's detailed assertion messages for them.
pytest.register_assert_rewrite("tests.helpers")

REPO_ROOT = Path(__file__).resolve().parent.parent


# Handed out first under xdist, in this order: the longest units (measured on a 2-core machine),
# so that none of them starts late and ends the run. The rest follow in collection order.
LONGEST_FIRST = (
    "tests/integration/test_chaos_drills.py",  # three classes of ~75-100 s each, mostly waiting
    "tests/integration/test_load_harness.py",  # ~90 s
    "tests/integration/test_artifact.py",  # pip from the package index
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """On xdist workers: the longest units first (``--no-loadscope-reorder`` hands units out in
    collection order). Every worker sorts the same way, so their collections agree."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


def _seeded_from_shared_cache(session: pytest.Session, tmp_path_factory, path: Path) -> None:
    """Under xdist, when the run deploys: build the host artifact (and the declared runtime's, when
    its interpreter is installed) once for all workers, in a cache in
    the run's base temporary directory, under a file lock, then hard-link it into this worker's own
    build directory, where any later (re)build writes without racing another worker."""
    if not any(item.get_closest_marker("integration") for item in session.items):
        return
    from stack.config import HookstackConfig
    from stack.deploy.package import build_artifact, host_platform, local_platform
    from stack.embedded.interpreters import resolve

    shared = tmp_path_factory.getbasetemp().parent / "shared-build"
    shared.mkdir(exist_ok=True)
    with _locked(shared.parent / "shared-build.lock"):
        build_artifact(host_platform(), shared)  # a no-op once a worker has built it
        functions_python = resolve(HookstackConfig().runtime)
        if functions_python.declared:  # what the stages deploy when the declared runtime is installed
            build_artifact(local_platform(functions_python.minor), shared)
        shutil.copytree(
            shared, path, copy_function=os.link, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.partial")
        )


@pytest.fixture(scope="session", autouse=True)
def shared_build_dir(request, tmp_path_factory):
    """One artifact cache for every stack a test session brings up (each in its own home)."""
    if os.environ.get("HOOKSTACK_BUILD_DIR"):
        yield Path(os.environ["HOOKSTACK_BUILD_DIR"])
        return
    path = tmp_path_factory.mktemp("build")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        _seeded_from_shared_cache(request.session, tmp_path_factory, path)
    os.environ["HOOKSTACK_BUILD_DIR"] = str(path)
    try:
        yield path
    finally:
        os.environ.pop("HOOKSTACK_BUILD_DIR", None)


@pytest.fixture
def isolated_home(tmp_path, monkeypatch) -> Path:
    """A private HOOKSTACK_HOME and a working directory without a hookstack.toml."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOOKSTACK_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for name in ("HOOKSTACK_CONFIG", "HOOKSTACK_STAGE", "HOOKSTACK_REGION"):
        monkeypatch.delenv(name, raising=False)
    return home
