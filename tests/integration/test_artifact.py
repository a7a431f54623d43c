"""The Lambda artifact is self-sufficient: every handler imports from the zip alone.

MiniStack runs functions on the host interpreter, where everything installed beside it is
importable, so a dependency missing from the zip would go unnoticed there. These tests build the
artifact (pip, from the package index) and import it in an isolated interpreter that sees only
the zip's contents and what the Lambda runtime provides (boto3 and its dependencies).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stack.deploy.package import PROVIDED_BY_RUNTIME, build_artifact, host_platform, lambda_platform

HANDLER_MODULES = ("handlers.authorizer", "handlers.producer", "handlers.worker", "handlers.status")
# What the Lambda Python runtime ships: boto3 and its dependency closure.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def _runtime_dir(tmp_path: Path) -> Path:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec and spec.origin, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (runtime / source.name).symlink_to(source)
    return runtime


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("build")


def test_every_handler_imports_from_the_host_artifact_alone(build_dir, tmp_path):
    artifact = build_artifact(host_platform(), build_dir)
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(unpacked)
    runtime = _runtime_dir(tmp_path)
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import importlib\n"
        f"for name in {HANDLER_MODULES!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    assert callable(module.handler), name\n"
        "    assert module.__file__.startswith(sys.argv[1]), module.__file__\n"
        "import pydantic, aws_lambda_powertools\n"
        "assert pydantic.__file__.startswith(sys.argv[1]) and aws_lambda_powertools.__file__.startswith(sys.argv[1])\n"
        "print('ok')\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1"}
    # -I: no environment or user site; -S: not even this interpreter's site-packages.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(unpacked), str(runtime)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_artifact_is_reproducible_and_leaves_out_the_runtime_sdk(build_dir):
    first = build_artifact(host_platform(), build_dir)
    assert build_artifact(host_platform(), build_dir) == first
    names = zipfile.ZipFile(first).namelist()
    assert "handlers/producer.py" in names
    assert not [n for n in names if n.split("/")[0] in PROVIDED_BY_RUNTIME]
    assert not [n for n in names if "__pycache__" in n]


def test_lambda_artifact_carries_wheels_for_the_declared_runtime(build_dir):
    artifact = build_artifact(lambda_platform("python3.12", "x86_64"), build_dir)
    names = zipfile.ZipFile(artifact).namelist()
    compiled = [n for n in names if n.startswith("pydantic_core/") and n.endswith(".so")]
    assert compiled and all("cpython-312-x86_64-linux-gnu" in n for n in compiled), compiled
