"""Shared fixtures. Integration tests deploy to the embedded target in a private hookstack home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def shared_build_dir(tmp_path_factory):
    """One artifact cache for every stack a test session brings up (each in its own home)."""
    if os.environ.get("HOOKSTACK_BUILD_DIR"):
        yield Path(os.environ["HOOKSTACK_BUILD_DIR"])
        return
    path = tmp_path_factory.mktemp("build")
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


def no_aws_credentials_env() -> dict[str, str]:
    """An environment in which boto3 finds no credentials and does not wait on instance metadata."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env
