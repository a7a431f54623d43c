"""An embedded stage of its own for an integration test module: up in a private hookstack home,
down at the end, and no process of it left behind."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.config import HookstackConfig
from stack.deploy.outputs import StackOutputs
from stack.embedded.lifecycle import down, up
from stack.home import use_home


@contextlib.contextmanager
def private_stage(
    tmp_path_factory: pytest.TempPathFactory, config: HookstackConfig
) -> Iterator[tuple[StackOutputs, Path]]:
    home = tmp_path_factory.mktemp(f"hookstack-{config.stage}-home")
    with use_home(home):
        try:
            yield up(config).outputs, home
        finally:
            down(config)
    leftovers = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True).stdout.split()
    assert not leftovers, f"processes left behind: {leftovers}"
