"""Which interpreter the embedded target runs functions on: fake interpreters on a fake PATH (shell
scripts printing what the probe asks), the artifact platform that follows, the runtime directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stack.config import HookstackConfig
from stack.deploy.package import artifact_digest, host_platform, local_platform
from stack.deploy.targets import EmbeddedTarget
from stack.embedded import interpreters
from stack.embedded.interpreters import OVERRIDE_ENV, FunctionsPython, prepare_runtime_dir, resolve, runtime_version

RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
HOST = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"


def fake_python(directory: Path, name: str, version: str, *, exit_code: int = 0, said: str = "") -> Path:
    """An executable ``name`` answering the probe as an interpreter of ``version`` (or failing)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    answer = json.dumps({"version": [int(p) for p in version.split(".")], "executable": f"/opt/python{version}"})
    probe_answer = f"echo '{said}' >&2; exit {exit_code}" if exit_code else f"echo '{answer}'; exit 0"
    # It answers the probe (run with -I) only: anything else it runs fails, as an interpreter missing
    # the runtime's packages would.
    other = "echo 'ModuleNotFoundError: No module named boto3' >&2; exit 1"
    path.write_text(f'#!/bin/sh\nif [ "$1" = "-I" ]; then {probe_answer}; fi\n{other}\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def no_host_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host interpreter is not 3.12 in these tests, whatever runs them."""
    monkeypatch.setattr(interpreters.sys, "executable", "/nonexistent/host-python")


def test_runtime_versions():
    assert runtime_version("python3.12") == "3.12"
    assert runtime_version("python3.9") == "3.9"
    assert runtime_version("nodejs20.x") is None
    assert runtime_version("python2.7") is None


def test_the_first_python_of_that_version_on_path_wins(tmp_path: Path, no_host_match):
    first, second = tmp_path / "a", tmp_path / "b"
    fake_python(first, "python3.12", "3.12.7")
    fake_python(second, "python3.12", "3.12.1")
    found = resolve("python3.12", {"PATH": f"{first}{os.pathsep}{second}"})
    assert found.declared and found.version == "3.12.7" and found.executable == "/opt/python3.12.7"
    assert "the declared python3.12" in found.describe()


def test_a_shim_that_does_not_run_and_a_wrong_version_are_skipped(tmp_path: Path, no_host_match):
    shims, wrong, right = tmp_path / "shims", tmp_path / "wrong", tmp_path / "right"
    fake_python(shims, "python3.12", "3.12.1", exit_code=127, said="pyenv: python3.12: command not found")
    fake_python(wrong, "python3.12", "3.11.9")  # a name that lies about its version
    fake_python(right, "python3.12", "3.12.3")
    found = resolve("python3.12", {"PATH": os.pathsep.join(map(str, (shims, wrong, right)))})
    assert found.declared and found.version == "3.12.3"


def test_none_found_is_the_host_interpreter_with_every_reason(tmp_path: Path, no_host_match):
    shims, wrong = tmp_path / "shims", tmp_path / "wrong"
    fake_python(shims, "python3.12", "3.12.1", exit_code=127, said="pyenv: python3.12: command not found")
    fake_python(wrong, "python3.12", "3.13.0")
    found = resolve("python3.12", {"PATH": f"{shims}{os.pathsep}{wrong}"})
    assert not found.declared and found.version == HOST
    assert "exited 127: pyenv: python3.12: command not found" in found.reason
    assert f"{wrong / 'python3.12'} is Python 3.13.0" in found.reason
    assert found.describe().startswith("functions run on the host interpreter")
    assert (
        resolve("python3.12", {"PATH": str(tmp_path / "empty")}).reason
        == "no working python3.12 on PATH or installed by pyenv or uv (none found)"
    )


def test_the_host_interpreter_counts_when_it_is_the_declared_version(tmp_path: Path):
    host_runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = resolve(host_runtime, {"PATH": str(tmp_path)})
    assert found.declared and found.version == HOST


def test_the_override(tmp_path: Path, no_host_match):
    on_path = tmp_path / "bin"
    fake_python(on_path, "python3.12", "3.12.1")
    named = fake_python(tmp_path / "elsewhere", "py", "3.12.9")
    environ = {"PATH": str(on_path)}
    assert resolve("python3.12", {**environ, OVERRIDE_ENV: "host"}).reason == f"{OVERRIDE_ENV}=host"
    assert resolve("python3.12", {**environ, OVERRIDE_ENV: str(named)}).version == "3.12.9"
    wrong = resolve("python3.12", {**environ, OVERRIDE_ENV: str(fake_python(tmp_path / "old", "py", "3.11.2"))})
    assert not wrong.declared and "is Python 3.11.2" in wrong.reason


def test_a_hung_candidate_is_bounded(tmp_path: Path, no_host_match, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(interpreters, "PROBE_TIMEOUT_S", 0.5)
    hung = tmp_path / "python3.12"
    hung.write_text(f"#!/bin/sh\nexec {shutil.which('sleep')} 30\n")
    hung.chmod(0o755)
    found = resolve("python3.12", {"PATH": str(tmp_path)})
    assert not found.declared and "did not answer" in found.reason


def test_the_artifact_platform_follows_the_interpreter():
    config = HookstackConfig()
    declared = FunctionsPython(runtime="python3.12", version="3.12.1", executable="/x", declared=True)
    host = FunctionsPython(runtime="python3.12", version=HOST, executable="/y", declared=False, reason="r")
    platform = EmbeddedTarget(region="us-east-1", functions_python=declared).artifact_platform(config)
    assert platform == local_platform("3.12") and platform.key.startswith("local-py3.12-")
    assert platform.pip_flags() == ["--implementation", "cp", "--python-version", "3.12"]
    assert EmbeddedTarget(region="us-east-1", functions_python=host).artifact_platform(config) == host_platform()
    assert EmbeddedTarget(region="us-east-1").artifact_platform(config) == host_platform()
    # Its own zip name and dependency cache: never the host build's.
    assert artifact_digest(platform) != artifact_digest(host_platform())


def test_the_runtime_directory_isolates_the_interpreter(tmp_path: Path):
    """A runtime directory of this interpreter: only the listed packages beside the standard library."""
    this = resolve(f"python{sys.version_info.major}.{sys.version_info.minor}", {"PATH": ""})
    made = prepare_runtime_dir(this, tmp_path / "runtimes", RUNTIME_PACKAGES)
    assert made.runtime_python == str(tmp_path / "runtimes" / this.runtime / "bin" / "python")
    check = (
        "import json, sys, boto3, importlib.util as u; print(json.dumps([sys.prefix, bool(u.find_spec('pydantic'))]))"
    )
    done = subprocess.run([str(made.runtime_python), "-c", check], capture_output=True, text=True, check=True)
    prefix, leaked = json.loads(done.stdout)
    assert prefix == str(tmp_path / "runtimes" / this.runtime) and not leaked
    # Remade in place (a redeploy), then removed when the host interpreter stands in.
    assert prepare_runtime_dir(this, tmp_path / "runtimes", RUNTIME_PACKAGES).runtime_python == made.runtime_python
    host = this.model_copy(update={"declared": False, "reason": "r"})
    assert prepare_runtime_dir(host, tmp_path / "runtimes", ["boto3"]) == host
    assert not (tmp_path / "runtimes" / this.runtime).exists()


def test_packages_that_do_not_import_fall_back_to_the_host(tmp_path: Path, no_host_match):
    broken = fake_python(tmp_path / "bin", "python3.12", "3.12.1")  # answers the probe, imports nothing
    chosen = FunctionsPython(runtime="python3.12", version="3.12.1", executable=str(broken), declared=True)
    made = prepare_runtime_dir(chosen, tmp_path / "runtimes", ["boto3"])
    assert not made.declared and "do not import" in made.reason
    assert not (tmp_path / "runtimes" / "python3.12").exists()


def test_interpreters_installed_by_pyenv_or_uv_count_newest_first(tmp_path: Path, no_host_match):
    home = tmp_path / "home"
    fake_python(home / ".pyenv/versions/3.12.1/bin", "python3.12", "3.12.1")
    fake_python(home / ".pyenv/versions/3.12.10/bin", "python3.12", "3.12.10")
    fake_python(home / ".pyenv/versions/3.13.0/bin", "python3.13", "3.13.0")
    fake_python(home / ".local/share/uv/python/cpython-3.12.4-linux-x86_64-gnu/bin", "python3.12", "3.12.4")
    environ = {"PATH": str(tmp_path / "empty"), "HOME": str(home)}
    assert interpreters.installed_by_managers("3.12", environ) == [
        str(home / ".pyenv/versions/3.12.10/bin/python3.12"),
        str(home / ".pyenv/versions/3.12.1/bin/python3.12"),
        str(home / ".local/share/uv/python/cpython-3.12.4-linux-x86_64-gnu/bin/python3.12"),
    ]
    found = resolve("python3.12", environ)
    assert found.declared and found.version == "3.12.10"
    on_path = tmp_path / "bin"
    fake_python(on_path, "python3.12", "3.12.3")
    assert resolve("python3.12", {**environ, "PATH": str(on_path)}).version == "3.12.3"  # PATH first


def test_without_a_home_no_manager_directory_is_searched(tmp_path: Path, no_host_match):
    assert interpreters.installed_by_managers("3.12", {"PATH": ""}) == []
