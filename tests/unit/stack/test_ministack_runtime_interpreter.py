"""``lambda-runtime-interpreter``: MiniStack's warm executor runs a Python function on its runtime's
interpreter when a runtime directory exists for it (a real worker process, no server), and exactly as
before otherwise."""

from __future__ import annotations

import io
import sys
import types
import zipfile
from pathlib import Path

import pytest
from ministack.core import lambda_runtime

from stack.embedded.interpreters import prepare_runtime_dir, resolve, runtime_python_path
from stack.embedded.ministack.lambda_runtime_patches import (
    RUNTIME_INTERPRETER_PATCH,
    RUNTIMES_DIR_ENV,
    apply_runtime_interpreter_patch,
    runtime_binaries,
)
from stack.embedded.ministack.patches import PINNED_MINISTACK_VERSION

HOST_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")

REPORTING = """
import importlib.util, sys

def handler(event, context):
    return {"executable": sys.executable, "prefix": sys.prefix, "pydantic": bool(importlib.util.find_spec("pydantic"))}
"""


def _ministack_detect():
    own = lambda_runtime._detect_runtime_binary
    while getattr(own, "hookstack_patch", None) == RUNTIME_INTERPRETER_PATCH:
        own = own.__wrapped__  # the server entry's test may have patched this process
    return own


def _invoke(name: str, runtime: str) -> dict:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("index.py", REPORTING)
    config = {
        "FunctionName": name,
        "Runtime": runtime,
        "Handler": "index.handler",
        "Timeout": 20,
        "MemorySize": 128,
        "Version": "$LATEST",
        "FunctionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
    }
    worker = lambda_runtime.Worker(name, config, archive.getvalue())
    try:
        answer = worker.invoke({}, f"req-{name}")
    finally:
        worker.kill()
    assert answer.get("status") == "ok", answer
    return answer["result"]


@pytest.fixture
def runtimes(tmp_path: Path) -> Path:
    """A runtime directory for this interpreter's version (every machine has one of those)."""
    made = prepare_runtime_dir(resolve(HOST_RUNTIME, {"PATH": ""}), tmp_path / "runtimes", RUNTIME_PACKAGES)
    assert made.runtime_python is not None, made.reason
    return tmp_path / "runtimes"


def test_a_function_runs_on_its_runtime_directory_and_sees_only_it(runtimes: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(
        lambda_runtime, "_detect_runtime_binary", runtime_binaries(_ministack_detect(), lambda: str(runtimes))
    )
    facts = _invoke("patched", HOST_RUNTIME)
    assert facts["executable"] == str(runtime_python_path(runtimes, HOST_RUNTIME))
    assert facts["prefix"] == str(runtimes / HOST_RUNTIME)
    assert facts["pydantic"] is False  # installed beside the emulator, not importable by the function


def test_unpatched_the_function_runs_on_the_emulator_s_interpreter(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(lambda_runtime, "_detect_runtime_binary", _ministack_detect())
    facts = _invoke("unpatched", HOST_RUNTIME)
    assert facts["executable"] == sys.executable and facts["pydantic"] is True  # the divergence the patch removes


def test_without_a_runtime_directory_the_choice_is_ministack_s(runtimes: Path):
    detect = runtime_binaries(_ministack_detect(), lambda: str(runtimes))
    assert detect("python3.99") == _ministack_detect()("python3.99")  # no directory for that runtime
    assert detect("nodejs20.x") == _ministack_detect()("nodejs20.x")
    assert detect("provided.al2023") == ("", "")
    assert runtime_binaries(_ministack_detect(), lambda: None)(HOST_RUNTIME)[0] == sys.executable
    assert detect(HOST_RUNTIME)[0] == str(runtime_python_path(runtimes, HOST_RUNTIME))


def test_the_directory_is_read_from_the_environment_at_each_spawn(runtimes: Path, monkeypatch: pytest.MonkeyPatch):
    module = types.SimpleNamespace(**vars(lambda_runtime))
    module._detect_runtime_binary = _ministack_detect()
    outcome = apply_runtime_interpreter_patch(module, PINNED_MINISTACK_VERSION)  # type: ignore[arg-type]
    assert outcome.applied, outcome.detail
    monkeypatch.delenv(RUNTIMES_DIR_ENV, raising=False)
    assert module._detect_runtime_binary(HOST_RUNTIME)[0] == sys.executable
    monkeypatch.setenv(RUNTIMES_DIR_ENV, str(runtimes))
    assert module._detect_runtime_binary(HOST_RUNTIME)[0] == str(runtime_python_path(runtimes, HOST_RUNTIME))
    assert apply_runtime_interpreter_patch(module, PINNED_MINISTACK_VERSION).detail == "already in place"  # type: ignore[arg-type]


def test_guard():
    def fresh() -> types.SimpleNamespace:
        module = types.SimpleNamespace(**vars(lambda_runtime))
        module._detect_runtime_binary = _ministack_detect()
        return module

    assert "1.5.34" in apply_runtime_interpreter_patch(fresh(), "1.5.34").detail  # type: ignore[arg-type]
    changed = fresh()
    changed._detect_runtime_binary = lambda runtime: (sys.executable, "")
    assert not apply_runtime_interpreter_patch(changed, PINNED_MINISTACK_VERSION).applied  # type: ignore[arg-type]

    class OtherWorker(lambda_runtime.Worker):
        def _spawn(self):  # not MiniStack's: the patch relies on how its spawn runs the binary
            return None

    other = fresh()
    other.Worker = OtherWorker
    refused = apply_runtime_interpreter_patch(other, PINNED_MINISTACK_VERSION)  # type: ignore[arg-type]
    assert not refused.applied and "Worker._spawn" in refused.detail
