"""Build the Lambda artifact: the ``handlers`` package plus its runtime dependencies, zipped.

Three platforms, because a zip carrying compiled wheels only imports on the interpreter it was
built for:
- ``local``: wheels for a local interpreter of the declared runtime's version on this machine (the
  embedded target runs functions on it where one is installed: ``stack.embedded.interpreters``);
- ``host``: wheels for the interpreter running hookstack (the embedded target's stand-in when the
  declared runtime is not installed);
- ``lambda``: manylinux wheels for the declared Lambda runtime and architecture (LocalStack, AWS).
boto3/botocore are not vendored: the Lambda Python runtime provides them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from platform import machine as host_machine

from stack.errors import HookstackError

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLERS_DIR = REPO_ROOT / "handlers"
REQUIREMENTS = HANDLERS_DIR / "requirements.txt"
# Fixed timestamp so identical inputs give a byte-identical zip (and an unchanged S3 key).
ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")


@dataclass(frozen=True)
class Platform:
    name: str  # "local", "host" or "lambda"
    python_version: str  # "3.12"
    architecture: str = "x86_64"

    @property
    def key(self) -> str:
        return f"{self.name}-py{self.python_version}-{self.architecture}"

    def pip_flags(self) -> list[str]:
        if self.name == "host":
            return []
        if self.name == "local":
            # This machine's platform tags for that CPython version (pip derives the cpXY ABI from
            # it): the host's pip builds the set, so the interpreter itself needs no pip.
            return ["--implementation", "cp", "--python-version", self.python_version]
        machine = {"x86_64": "x86_64", "arm64": "aarch64"}[self.architecture]
        abi = "cp" + self.python_version.replace(".", "")
        return [
            "--platform",
            f"manylinux2014_{machine}",
            "--platform",
            f"manylinux_2_28_{machine}",
            "--implementation",
            "cp",
            "--python-version",
            self.python_version,
            "--abi",
            abi,
        ]


def host_platform() -> Platform:
    return Platform("host", f"{sys.version_info.major}.{sys.version_info.minor}")


def local_platform(python_version: str) -> Platform:
    """Wheels for a CPython ``python_version`` ("3.12") interpreter on this machine."""
    return Platform("local", python_version, host_machine() or "x86_64")


def lambda_platform(runtime: str, architecture: str) -> Platform:
    if not runtime.startswith("python3."):
        raise HookstackError(f"runtime {runtime} is not a Python runtime")
    return Platform("lambda", runtime.removeprefix("python"), architecture)


def _digest(paths: list[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for path in paths:
        h.update(str(path.relative_to(REPO_ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def handler_sources() -> list[Path]:
    return sorted(
        p
        for p in HANDLERS_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", ".txt", ".json"}
    )


def artifact_inputs() -> list[Path]:
    """Every file the artifact is built from, as its hash covers them: the handler sources and their
    requirements (the dependencies themselves follow from the requirements)."""
    return handler_sources() + [REQUIREMENTS]


def artifact_digest(platform: Platform) -> str:
    """The artifact's content hash (in its file name): a change means the handlers changed."""
    return _digest(artifact_inputs(), platform.key)


def install_dependencies(platform: Platform, build_dir: Path) -> Path:
    """pip-install the runtime dependencies for ``platform`` once; cached by requirements hash."""
    site = build_dir / f"deps-{platform.key}-{_digest([REQUIREMENTS], platform.key)}"
    if (site / ".complete").exists():
        return site
    shutil.rmtree(site, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--only-binary=:all:",
        "--target",
        str(site),
        "-r",
        str(REQUIREMENTS),
        *platform.pip_flags(),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise HookstackError(f"building handler dependencies for {platform.key} failed: {last}")
    for name in PROVIDED_BY_RUNTIME:
        shutil.rmtree(site / name, ignore_errors=True)
    (site / ".complete").write_text("ok")
    return site


def _add_tree(archive: zipfile.ZipFile, root: Path, prefix: str = "") -> None:
    for path in sorted(root.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.name == ".complete":
            continue
        info = zipfile.ZipInfo(prefix + str(path.relative_to(root)), ZIP_EPOCH)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())


def build_artifact(platform: Platform, build_dir: Path) -> Path:
    """Return the path of the zip for ``platform``; rebuilt only when sources or deps change."""
    build_dir.mkdir(parents=True, exist_ok=True)
    site = install_dependencies(platform, build_dir)
    artifact = build_dir / f"handlers-{platform.key}-{artifact_digest(platform)}.zip"
    if artifact.exists():
        return artifact
    for stale in build_dir.glob(f"handlers-{platform.key}-*.zip"):
        stale.unlink()
    partial = artifact.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        _add_tree(archive, site)
        _add_tree(archive, HANDLERS_DIR, prefix="handlers/")
    partial.rename(artifact)
    return artifact


def artifact_key(artifact: Path) -> str:
    return f"artifacts/{artifact.name}"
