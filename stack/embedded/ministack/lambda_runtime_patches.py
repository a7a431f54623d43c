"""The patch that makes MiniStack's executor run a Python function on its declared runtime's
interpreter (beside ``patches.py``'s SQS and Lambda ones, with the same guard).

``lambda-runtime-interpreter``
    MiniStack 1.5.33's warm executor runs every Python function on its own interpreter:
    ``lambda_runtime._detect_runtime_binary`` answers ``sys.executable`` whatever the function's
    ``Runtime``, so a ``python3.12`` function runs on the emulator's Python with everything installed
    beside it importable. MiniStack has no setting for it (its only executor switches are
    ``LAMBDA_EXECUTOR`` and ``LAMBDA_STRICT``, both to Docker). AWS: the function runs on its
    runtime, with the standard library, the runtime's boto3 and the function's own code only. With
    the patch, a function whose runtime has a runtime directory under
    ``$HOOKSTACK_FUNCTION_RUNTIMES_DIR`` (``<dir>/<runtime>/bin/python``, made per deploy by
    ``stack.embedded.interpreters``: that runtime's interpreter in a virtual environment holding
    only the runtime's packages) runs on that binary, the one hookstack's own environments run
    on; any other function (no such directory, another runtime) runs as MiniStack runs it.

What it relies on (MiniStack 1.5.33, ``core/lambda_runtime.py``): ``Worker._spawn`` looks
``_detect_runtime_binary`` up in the module's globals each time it spawns a worker, and runs
``[binary, worker_path]`` with the worker script it returns; the Python worker script needs only
the standard library (it imports botocore only if it is there). Every Python zip function the
emulator runs goes through that pool: invokes, Step Functions tasks, stream and queue mappings,
scheduled rules.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from stack.embedded.emulator import FUNCTION_RUNTIMES_DIR_ENV
from stack.embedded.interpreters import runtime_python_path
from stack.embedded.ministack.patches import PatchOutcome, installed_ministack_version, source_refusal

RUNTIME_INTERPRETER_PATCH = "lambda-runtime-interpreter"
RUNTIMES_DIR_ENV = FUNCTION_RUNTIMES_DIR_ENV

_EXPECTED_RUNTIME_SOURCE_SHA256 = {
    "_detect_runtime_binary": "222e200df2c093f826646602ec435c624ba56f50002aec951aac125c8c8b0169",
}
# A method: source_refusal reads module attributes, so this one is checked here.
_EXPECTED_SPAWN_SOURCE_SHA256 = "c55febf956565c5e83b8a36e069852483461164e899afa9c735a17e138ad1c93"


def runtime_binaries(
    detect: Callable[[str], tuple[str, str]], runtimes_dir: Callable[[], str | None]
) -> Callable[[str], tuple[str, str]]:
    """Wrap ``_detect_runtime_binary``: a Python runtime with a runtime directory runs on its binary."""

    def detect_runtime_binary(runtime: str) -> tuple[str, str]:
        binary, script = detect(runtime)
        directory = runtimes_dir()
        if directory and runtime.startswith("python") and binary:
            declared = runtime_python_path(Path(directory), runtime)
            if declared.exists():  # follows the link: a removed interpreter falls back to MiniStack's
                return str(declared), script
        return binary, script

    detect_runtime_binary.__wrapped__ = detect  # type: ignore[attr-defined]  # for the guard and for tests
    detect_runtime_binary.hookstack_patch = RUNTIME_INTERPRETER_PATCH  # type: ignore[attr-defined]
    return detect_runtime_binary


def _runtimes_dir_from_environment() -> str | None:
    # Read at each spawn: `hookstack up` makes or removes the directory per deploy.
    return os.environ.get(RUNTIMES_DIR_ENV) or None


def runtime_interpreter_refusal(runtime_module: ModuleType, installed_version: str | None) -> str | None:
    refusal = source_refusal(runtime_module, _EXPECTED_RUNTIME_SOURCE_SHA256, installed_version)
    if refusal is not None:
        return refusal
    spawn = getattr(getattr(runtime_module, "Worker", None), "_spawn", None)
    if not inspect.isfunction(spawn):
        return f"{runtime_module.__name__}.Worker._spawn is missing or not a function"
    actual = hashlib.sha256(inspect.getsource(spawn).encode()).hexdigest()
    if actual != _EXPECTED_SPAWN_SOURCE_SHA256:
        return (
            f"{runtime_module.__name__}.Worker._spawn is not the source the patch was checked against "
            f"(sha256 {actual[:12]}…, expected {_EXPECTED_SPAWN_SOURCE_SHA256[:12]}…)"
        )
    return None


def apply_runtime_interpreter_patch(
    runtime_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    if runtime_module is None:
        from ministack.core import lambda_runtime

        runtime_module = lambda_runtime
    current = getattr(runtime_module, "_detect_runtime_binary", None)
    if getattr(current, "hookstack_patch", None) == RUNTIME_INTERPRETER_PATCH:
        return PatchOutcome(RUNTIME_INTERPRETER_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = runtime_interpreter_refusal(runtime_module, version)
    if refusal is not None:
        return PatchOutcome(RUNTIME_INTERPRETER_PATCH, False, refusal)
    assert current is not None
    setattr(runtime_module, "_detect_runtime_binary", runtime_binaries(current, _runtimes_dir_from_environment))  # noqa: B010  (a module attribute)
    return PatchOutcome(
        RUNTIME_INTERPRETER_PATCH,
        True,
        f"a Python function runs on its runtime's interpreter where ${RUNTIMES_DIR_ENV}/<runtime> exists",
    )
