"""Which Python the embedded target runs the functions on: the declared runtime's, where installed.

A function declaring ``python3.12`` runs on a ``python3.12`` found on PATH, or installed by pyenv
or uv, whose version really is 3.12 (a pyenv shim for a version that is not selected is on PATH
but does not run); the host interpreter is a candidate too, first, when it is that version. When
none is found the functions run on the host interpreter, and every report says so
(``FunctionsPython.declared`` is False).
``HOOKSTACK_FUNCTIONS_PYTHON`` overrides the search: ``host`` keeps the host interpreter (to compare
against it, or while a local interpreter misbehaves), a path names the interpreter to use.

The chosen interpreter runs the functions through a *runtime directory*
(``<runtimes>/<runtime>/bin/python``): a virtual environment (PEP 405) of that interpreter whose only
site-packages are links to what the Lambda Python runtime provides (boto3 and what it needs), so
nothing else installed beside it is importable, as on Lambda. hookstack's environments and
MiniStack's executor (patch ``lambda-runtime-interpreter``) both run that same binary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

OVERRIDE_ENV = "HOOKSTACK_FUNCTIONS_PYTHON"
HOST = "host"
# Long enough for a cold interpreter start on a busy machine; bounded so a hung candidate cannot hang `up`.
PROBE_TIMEOUT_S = 15.0
# What the probe prints: the version, and the interpreter itself (a venv's base, a shim's target).
_PROBE = (
    "import json, sys; print(json.dumps({'version': list(sys.version_info[:3]), "
    "'executable': getattr(sys, '_base_executable', '') or sys.executable}))"
)
# The Lambda runtime's packages are pure Python, linked from the host; the check imports them there.
_RUNTIME_LIBS_CHECK = "import boto3, botocore.session, s3transfer, urllib3, dateutil, jmespath, six; print('ok')"


class FunctionsPython(BaseModel):
    """The interpreter the functions of a stage run on, as the stage's outputs and reports carry it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runtime: str  # the declared runtime, e.g. "python3.12"
    version: str  # the interpreter's, e.g. "3.12.1"
    executable: str  # the interpreter itself (not the runtime directory's link to it)
    declared: bool  # True: the declared runtime's version; False: the host interpreter stands in
    reason: str = ""  # why the host interpreter stands in (empty when declared)
    runtime_python: str | None = None  # <runtimes>/<runtime>/bin/python, the binary functions run on

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def describe(self) -> str:
        """One line for `hookstack up` and the reports."""
        if self.declared:
            return f"functions run on Python {self.version} ({self.executable}), the declared {self.runtime}"
        return (
            f"functions run on the host interpreter, Python {self.version}, not the declared {self.runtime}: "
            f"{self.reason}"
        )


def runtime_version(runtime: str) -> str | None:
    """``python3.12`` → ``3.12``; None for a runtime that is not CPython 3."""
    version = runtime.removeprefix("python")
    major, _, minor = version.partition(".")
    return version if runtime.startswith("python") and major == "3" and minor.isdigit() else None


def probe(executable: str, environ: Mapping[str, str] | None = None) -> tuple[str, str] | str:
    """(version, real executable) of the interpreter at ``executable``, or why it cannot be used."""
    try:
        done = subprocess.run(
            [executable, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
            env=None if environ is None else dict(environ),  # a shim reads its own variables (PYENV_VERSION)
        )
    except subprocess.TimeoutExpired:
        return f"{executable} did not answer within {PROBE_TIMEOUT_S:.0f} s"
    except OSError as exc:
        return f"{executable}: {exc.strerror or exc}"
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        return f"{executable} exited {done.returncode}: {said}"
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        return ".".join(str(part) for part in answer["version"]), str(answer["executable"])
    except (ValueError, IndexError, KeyError, TypeError):
        return f"{executable} did not print its version"


def candidates_on_path(name: str, path: str | None) -> list[str]:
    """Every executable file named ``name`` on ``path`` (os.pathsep-separated), in PATH order."""
    found = []
    for directory in (path or "").split(os.pathsep):
        candidate = Path(directory or ".") / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found.append(str(candidate))
    return found


def installed_by_managers(minor: str, environ: Mapping[str, str]) -> list[str]:
    """Interpreters of ``minor`` that pyenv or uv installed but may not have put on PATH (a pyenv
    shim runs only the versions selected): ``$PYENV_ROOT/versions/3.12.*/bin/python3.12``,
    ``$UV_PYTHON_INSTALL_DIR/cpython-3.12.*/bin/python3.12``; newest patch release first."""
    home = environ.get("HOME")  # read from ``environ`` only, so a caller's environment decides
    pyenv_root = environ.get("PYENV_ROOT") or (f"{home}/.pyenv" if home else None)
    uv_root = environ.get("UV_PYTHON_INSTALL_DIR") or (f"{home}/.local/share/uv/python" if home else None)
    roots: list[tuple[Path, str]] = []
    if pyenv_root:
        roots.append((Path(pyenv_root) / "versions", f"{minor}.*"))
    if uv_root:
        roots.append((Path(uv_root), f"cpython-{minor}.*"))
    found: list[str] = []
    for root, pattern in roots:
        installs = [d for d in root.glob(pattern) if d.is_dir()] if root.is_dir() else []
        for install in sorted(installs, key=lambda d: _patch_level(d.name), reverse=True):
            candidate = install / "bin" / f"python{minor}"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                found.append(str(candidate))
    return found


def _patch_level(name: str) -> tuple[int, ...]:
    """``3.12.1`` / ``cpython-3.12.1-linux-x86_64-gnu`` → (3, 12, 1); unparsable parts sort first."""
    version = name.removeprefix("cpython-").split("-")[0]
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def host_python(runtime: str, reason: str) -> FunctionsPython:
    info = sys.version_info
    return FunctionsPython(
        runtime=runtime,
        version=f"{info.major}.{info.minor}.{info.micro}",
        executable=sys.executable,
        declared=False,
        reason=reason,
    )


def _first_of_version(
    candidates: Iterable[str], minor: str, environ: Mapping[str, str]
) -> tuple[tuple[str, str] | None, list[str]]:
    refusals: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if real in seen:
            continue
        seen.add(real)
        answer = probe(candidate, environ)
        if isinstance(answer, str):
            refusals.append(answer)
        elif ".".join(answer[0].split(".")[:2]) != minor:
            refusals.append(f"{candidate} is Python {answer[0]}")
        else:
            return answer, refusals
    return None, refusals


def resolve(runtime: str, environ: Mapping[str, str] | None = None) -> FunctionsPython:
    """The interpreter for functions declaring ``runtime`` (once per deploy: it runs candidates)."""
    environ = os.environ if environ is None else environ
    minor = runtime_version(runtime)
    if minor is None:
        return host_python(runtime, f"{runtime} is not a CPython 3 runtime")
    override = environ.get(OVERRIDE_ENV, "").strip()
    if override == HOST:
        return host_python(runtime, f"{OVERRIDE_ENV}={HOST}")
    if override:
        found, refusals = _first_of_version([override], minor, environ)
        if found is None:
            return host_python(runtime, f"{OVERRIDE_ENV}: {refusals[0]}")
    else:
        name = f"python{minor}"
        found, refusals = _first_of_version(
            [sys.executable, *candidates_on_path(name, environ.get("PATH")), *installed_by_managers(minor, environ)],
            minor,
            environ,
        )
        if found is None:
            tried = [r for r in refusals if not r.startswith(sys.executable)]  # the host: reported anyway
            detail = "; ".join(tried) if tried else "none found"
            return host_python(runtime, f"no working {name} on PATH or installed by pyenv or uv ({detail})")
    version, executable = found
    return FunctionsPython(runtime=runtime, version=version, executable=executable, declared=True)


def link_packages(names: Iterable[str], libs: Path) -> Path:
    """Symlinks in ``libs`` to this interpreter's installed packages ``names`` (their directory, or
    their module file); kept when already right."""
    import importlib.util

    libs.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"package {name!r}, provided by the Lambda Python runtime, is not installed")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        link = libs / source.name
        if link.is_symlink() and link.resolve() == source.resolve():
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(source)
    return libs


def runtime_python_path(runtimes_dir: Path, runtime: str) -> Path:
    """The binary functions declaring ``runtime`` run on, when the runtime directory exists."""
    return runtimes_dir / runtime / "bin" / "python"


def prepare_runtime_dir(chosen: FunctionsPython, runtimes_dir: Path, packages: Iterable[str]) -> FunctionsPython:
    """Make ``<runtimes_dir>/<runtime>`` for a declared interpreter, or remove it for the host one
    (MiniStack's executor then keeps its own choice). Returns ``chosen`` with ``runtime_python`` set,
    or the host interpreter with the reason when the runtime's packages do not import there."""
    root = runtimes_dir / chosen.runtime
    if not chosen.declared:
        shutil.rmtree(root, ignore_errors=True)
        return chosen
    # Built beside it, then swapped in: a worker spawning meanwhile finds the old one or the new one.
    staging = runtimes_dir / f".{chosen.runtime}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    executable = Path(chosen.executable)
    (staging / "bin").mkdir(parents=True)
    # PEP 405: pyvenv.cfg one level above the binary makes its prefix the runtime directory; without
    # system site-packages (and so without the user's) only the links below are importable.
    (staging / "pyvenv.cfg").write_text(
        f"home = {executable.parent}\ninclude-system-site-packages = false\nversion = {chosen.version}\n"
    )
    (staging / "bin" / "python").symlink_to(executable)
    link_packages(packages, staging / "lib" / f"python{chosen.minor}" / "site-packages")
    failed = _runtime_packages_refusal(staging / "bin" / "python")
    if failed is not None:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        return host_python(
            chosen.runtime, f"the Lambda runtime's packages do not import on {chosen.executable}: {failed}"
        )
    retired = runtimes_dir / f".{chosen.runtime}.retired"
    shutil.rmtree(retired, ignore_errors=True)
    if root.exists():
        root.rename(retired)
    staging.rename(root)
    shutil.rmtree(retired, ignore_errors=True)
    return chosen.model_copy(update={"runtime_python": str(runtime_python_path(runtimes_dir, chosen.runtime))})


def _runtime_packages_refusal(binary: Path) -> str | None:
    """Why the runtime's packages do not import on ``binary``, or None when they do."""
    try:
        done = subprocess.run(
            [str(binary), "-c", _RUNTIME_LIBS_CHECK],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S * 4,  # the first run on a new version compiles botocore
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1]
