"""Runs Locust headless as a child process and follows its progress.

A child process, not an in-process runner: Locust monkey-patches the interpreter with gevent on
import, which the CLI (boto3 threads, the emulator's child process) must not inherit. The child
writes one progress line per second and, when it ends, the raw result file. The whole run is
bounded: the child is stopped (its process group: ``--processes`` forks workers) if it outlives
its time budget.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.model.params import MAX_LEAD_S, LoadParams
from stack.clients.providers import secret_env_var
from stack.clients.token_placement import TokenPlacement
from stack.embedded.processes import INTERRUPT, free_port, stop_group
from stack.errors import HookstackError

LOCUSTFILE = Path(__file__).parent / "locust" / "locustfile.py"


def user_classes(locustfile: Path = LOCUSTFILE) -> dict[str, str]:
    """Provider → the locustfile's user class sending as it (its ``provider = "…"``), read from the
    source: importing the locustfile would patch this process with gevent."""
    found: dict[str, str] = {}
    for node in ast.parse(locustfile.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            targets = (
                item.targets
                if isinstance(item, ast.Assign)
                else [item.target]
                if isinstance(item, ast.AnnAssign)
                else []
            )
            value = getattr(item, "value", None)
            if any(isinstance(t, ast.Name) and t.id == "provider" for t in targets) and isinstance(value, ast.Constant):
                if isinstance(value.value, str) and value.value:
                    found[value.value] = node.name
    return found


STARTUP_ALLOWANCE_S = 30.0
POLL_S = 0.5


class LocustRunError(HookstackError):
    """The Locust child failed, or outlived its time budget."""


class LocustInterrupted(Exception):
    """Ctrl-C during the run: Locust was stopped (it writes its result as it quits); ``result``
    is what it measured until then, None when it wrote nothing."""

    def __init__(self, result: dict[str, Any] | None):
        super().__init__("interrupted")
        self.result = result


@dataclass
class LocustRun:
    url: str
    params: LoadParams
    report_dir: Path
    providers: list[str] = field(default_factory=lambda: ["shopify"])
    processes: int = 0
    token: str = ""
    token_placement: TokenPlacement = field(default_factory=TokenPlacement)
    secrets: dict[str, str] = field(default_factory=dict)
    max_body_bytes: int = 256 * 1024
    # A scenario with its own user class (partner-jobs: PartnerCompany) instead of the providers'.
    user_class: str | None = None
    claim_check_bytes: int | None = None  # partner-jobs: the stage's limits its attachments straddle
    max_request_bytes: int | None = None
    # A scenario's own options (flag → value: names, never secrets) and environment (secrets).
    extra_options: dict[str, str] = field(default_factory=dict)
    extra_environment: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The child runs in the project's directory, not the caller's: it gets absolute paths.
        self.report_dir = self.report_dir.resolve()

    @property
    def results_file(self) -> Path:
        return self.report_dir / "locust-result.json"

    @property
    def progress_file(self) -> Path:
        return self.report_dir / "progress.jsonl"

    @property
    def log_file(self) -> Path:
        return self.report_dir / "locust.log"

    def time_budget(self) -> float:
        return STARTUP_ALLOWANCE_S + 5 * self.processes + MAX_LEAD_S + self.params.duration + self.params.tail

    def command(self, master_port: int | None = None) -> list[str]:
        p = self.params
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--only-summary",
            "--host",
            self.url,
            "--scenario",
            p.scenario,
            "--rate",
            repr(p.rate),
            "--duration",
            repr(p.duration),
            "--mode",
            p.mode,
            "--tail",
            repr(p.tail),
            "--max-body-bytes",
            str(self.max_body_bytes),
            *self._token_placement_flags(),
            "--results-file",
            str(self.results_file),
            "--progress-file",
            str(self.progress_file),
            "--loglevel",
            "INFO",
        ]
        for flag, value in (
            ("--user-count", p.users),
            ("--peak", p.peak),
            ("--retry-share", p.retry_share),
            ("--seed", p.seed),
            ("--groups", p.groups),
            ("--claim-check-bytes", self.claim_check_bytes),
            ("--max-request-bytes", self.max_request_bytes),
        ):
            if value is not None:
                command += [flag, str(value)]
        for extra_flag, extra_value in self.extra_options.items():
            command += [extra_flag, extra_value]
        if self.processes:
            port = str(master_port or free_port())
            # Forked workers connect to --master-host/--master-port: the same loopback port.
            command += [
                "--processes",
                str(self.processes),
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                port,
                "--master-host",
                "127.0.0.1",
                "--master-port",
                port,
                "--expect-workers-max-wait",
                "30",
            ]
        if self.user_class is not None:
            return command + [self.user_class]
        classes = user_classes()
        missing = [provider for provider in self.providers if provider not in classes]
        if missing:
            raise LocustRunError(f"no Locust user class sends as {', '.join(missing)} in {LOCUSTFILE}")
        return command + [classes[provider] for provider in self.providers]

    def _token_placement_flags(self) -> list[str]:
        """Where the token goes (a name, not a secret: fine on the command line)."""
        placement = self.token_placement
        if placement.query_parameter is not None:
            return ["--token-query-parameter", placement.query_parameter]
        return ["--token-header", placement.header or ""]

    def environment(self) -> dict[str, str]:
        """Secrets go through the environment, never the command line (``ps`` shows that)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HOOKSTACK_", "LOCUST_"))}
        env["HOOKSTACK_TOKEN"] = self.token
        for provider, secret in self.secrets.items():
            env[secret_env_var(provider)] = secret
        env.update(self.extra_environment)
        env["PYTHONUNBUFFERED"] = "1"
        return env


def _read_new_lines(path: Path, position: int) -> tuple[list[dict[str, Any]], int]:
    if not path.exists():
        return [], position
    with path.open("rb") as handle:
        handle.seek(position)
        data = handle.read()
    complete = data.rfind(b"\n") + 1
    lines = [json.loads(line) for line in data[:complete].splitlines() if line.strip()]
    return lines, position + complete


def run_locust(
    run: LocustRun,
    *,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run Locust to completion; return the raw result written by the harness."""
    run.report_dir.mkdir(parents=True, exist_ok=True)
    for path in (run.results_file, run.progress_file):
        path.unlink(missing_ok=True)
    deadline = time.monotonic() + run.time_budget()
    with run.log_file.open("wb") as log:
        process = subprocess.Popen(
            run.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=run.environment(),
            start_new_session=True,
            cwd=str(LOCUSTFILE.parents[2]),
        )
        position = 0
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    stop_group(process.pid, INTERRUPT, process=process)
                    raise LocustRunError(
                        f"Locust did not finish within {run.time_budget():.0f} s; stopped it (log: {run.log_file})"
                    )
                if should_stop is not None and should_stop():
                    stop_group(process.pid, INTERRUPT, process=process)
                    raise LocustRunError("stopped before the end of the run")
                lines, position = _read_new_lines(run.progress_file, position)
                if lines and on_progress is not None:
                    on_progress(lines[-1])
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            stop_group(process.pid, INTERRUPT, process=process)  # SIGINT first: Locust quits cleanly
            raise LocustInterrupted(_read_result(run.results_file)) from None
        except BaseException:
            stop_group(process.pid, INTERRUPT, process=process)
            raise
    if not run.results_file.exists():
        tail = run.log_file.read_text(errors="replace").strip().splitlines()[-15:]
        raise LocustRunError(
            f"Locust exited with code {process.returncode} without a result (log: {run.log_file}):\n" + "\n".join(tail)
        )
    return json.loads(run.results_file.read_text())


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
