"""One embedded stack in a private hookstack home for a benchmark, and ``hookstack load`` runs
against it (the project's load harness, as a child process in its own session).

Everything started here stops on exit, on an error, on Ctrl-C or SIGTERM: the load child first,
then the gateway and the emulator (``down``), then anything still running from the private home.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from stack.embedded.processes import stop_group

REPO = Path(__file__).resolve().parent.parent
STAGE = "dev"


class LoadRunError(RuntimeError):
    """A ``hookstack load`` run outlived its budget or wrote no summary."""


@dataclass(frozen=True)
class LoadRun:
    exit_code: int
    summary: dict[str, Any]  # summary.json
    raw: dict[str, Any]  # locust-result.json (timeline, status counts, exact histograms)
    log_path: Path
    started_epoch: float
    seconds: float


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every clean-up runs either way."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def leftovers(home: Path) -> list[int]:
    """Processes still running from a benchmark's private home (emulator, gateways, Locust)."""
    found = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in found if int(pid) != os.getpid()]


def kill_leftovers(home: Path, report: Callable[[int], None] = lambda _: None) -> None:
    for pid in leftovers(home):  # ours: started under this private home; stopped by id
        report(pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def tear_down(console: Console, home: Path) -> None:
    """``hookstack down`` for the private home (a second Ctrl-C cannot skip it), then anything left."""
    from stack.config import load_config
    from stack.embedded.lifecycle import down

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with console.status("stopping the gateways and the emulator"):
            down(load_config(stage=STAGE))
    finally:
        signal.signal(signal.SIGINT, previous)
    kill_leftovers(home, lambda pid: console.print(f"[yellow]stopping leftover process {pid}[/]"))


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def wait_for_empty_queues(queues: list[tuple[Any, str]], limit_s: float) -> int:
    """Poll (sqs client, queue URL) pairs every second until all are empty or ``limit_s`` passed:
    the messages still queued (0: quiet)."""
    deadline = time.monotonic() + limit_s
    while True:
        depth = sum(queue_depth(sqs, url) for sqs, url in queues)
        if depth == 0 or time.monotonic() >= deadline:
            return depth
        time.sleep(1.0)


def run_on_private_stack(
    console: Console,
    run: Callable[[PrivateStack], dict[str, Any]],
    print_result: Callable[[dict[str, Any]], None],
    reports_dir: Path | None,
    json_path: Path | None,
) -> int:
    """A benchmark's main: the stack up in a private home, ``run`` on it, everything stopped
    (Ctrl-C and SIGTERM included), then its figures printed and written; the exit code."""
    result: dict[str, Any] | None = None
    code = 1
    with sigterm_as_interrupt():
        try:
            console.print("starting the embedded stack in a private home")
            with PrivateStack() as stack:
                console.print(f"stack up in {stack.up_seconds:.0f} s: {stack.outputs.api_url}")
                result = run(stack)
                if reports_dir:
                    stack.keep_reports(reports_dir)
            code = 0
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: everything stopped[/]")
            code = 130
    if result is None:
        return code
    print_result(result)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2, default=str))
        console.print(f"figures written to {json_path}")
    return code


def add_run_options(parser: argparse.ArgumentParser, *, max_minutes: float, reports: str) -> None:
    """The options of every benchmark on a private stack: its deadline, where its figures and the
    load reports (``reports`` says whose) are kept."""
    parser.add_argument("--max-minutes", type=float, default=max_minutes, help="deadline of the whole benchmark")
    parser.add_argument("--json", dest="json_path", type=Path, help="write the figures here")
    parser.add_argument("--reports-dir", type=Path, help=f"keep {reports} summary.json and report.html here")


def main_on_private_stack(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    needed_min: float,
    run: Callable[[argparse.Namespace, Console, PrivateStack], dict[str, Any]],
    print_result: Callable[[Console, dict[str, Any]], None],
    *,
    width: int,
) -> int:
    """A benchmark's main once its own options are checked: refused (exit 2) when the settings can
    outlast ``--max-minutes``, else :func:`run_on_private_stack` printing to a console ``width``
    wide when not a terminal (a log keeps the tables whole); the exit code."""
    if needed_min > args.max_minutes:
        parser.error(f"these settings can take {needed_min:.0f} min: raise --max-minutes or lower --drain-timeout")
    console = Console()
    if not console.is_terminal:
        console.width = width
    return run_on_private_stack(
        console,
        lambda stack: run(args, console, stack),
        lambda result: print_result(console, result),
        args.reports_dir,
        args.json_path,
    )


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, kept before and after a run as ``load_average_before``/``_after``."""
    return [round(v, 2) for v in os.getloadavg()]


def print_load_average(console: Console, result: dict[str, Any]) -> None:
    """The last line of a benchmark's figures: how busy the machine was (figures on a busy one mislead)."""
    before, after = result["load_average_before"][0], result["load_average_after"][0]
    console.print(f"load average {before:.1f} → {after:.1f} on {result['cpu_count']} CPUs")


def stop_child(process: subprocess.Popen[bytes]) -> None:
    """Ask the `hookstack load` child to stop (it stops its Locust child), then insist."""
    stop_group(process.pid, ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)), process=process)


def run_load(work: Path, env: dict[str, str], name: str, stage: str, options: list[str], budget_s: float) -> LoadRun:
    """``hookstack load --target embedded --stage STAGE OPTIONS`` as a child in its own session,
    within ``budget_s``; its reports under ``work/name``, its output in ``work/name.log``."""
    report_dir = work / name
    command = [sys.executable, "-m", "loadtests.cli", "--target", "embedded", "--stage", stage]
    command += ["--report-dir", str(report_dir), *options]
    log_path = work / f"{name}.log"
    started, started_epoch = time.monotonic(), time.time()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C reaches it only through us, once
        )
        try:
            code = process.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            raise LoadRunError(f"{name} outlived its {budget_s:.0f} s budget (log {log_path})") from None
        finally:
            stop_child(process)
    summary_path = report_dir / "summary.json"
    if not summary_path.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-12:])
        raise LoadRunError(f"{name} wrote no summary (exit {code}):\n{tail}")
    return LoadRun(
        exit_code=code,
        summary=json.loads(summary_path.read_text()),
        raw=json.loads((report_dir / "locust-result.json").read_text()),
        log_path=log_path,
        started_epoch=started_epoch,
        seconds=time.monotonic() - started,
    )


class PrivateStack:
    """``with PrivateStack() as stack:`` — the embedded stack up in a fresh private home."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="hookstack-bench-home-"))
        self.work = self.home / "runs"
        self.work.mkdir()
        self.env = {**os.environ, "HOOKSTACK_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        self.env.pop("HOOKSTACK_STAGE", None)
        self._previous_home = os.environ.get("HOOKSTACK_HOME")
        self.outputs: Any = None
        self.up_seconds = 0.0

    def __enter__(self) -> PrivateStack:
        from stack.config import load_config
        from stack.embedded.lifecycle import up

        os.environ["HOOKSTACK_HOME"] = str(self.home)
        try:
            result = up(load_config(stage=STAGE))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.outputs = result.outputs
        self.up_seconds = result.total_s
        return self

    def __exit__(self, *exc: object) -> None:
        from stack.config import load_config
        from stack.embedded.lifecycle import down

        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip this
        try:
            down(load_config(stage=STAGE))
        finally:
            signal.signal(signal.SIGINT, previous)
            kill_leftovers(self.home)
            if self._previous_home is None:
                os.environ.pop("HOOKSTACK_HOME", None)
            else:
                os.environ["HOOKSTACK_HOME"] = self._previous_home
            shutil.rmtree(self.home, ignore_errors=True)

    def load(self, name: str, options: list[str], budget_s: float) -> LoadRun:
        """``hookstack load --target embedded --stage dev OPTIONS``, within ``budget_s``."""
        return run_load(self.work, self.env, name, STAGE, options, budget_s)

    def keep_reports(self, destination: Path) -> None:
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.work, destination, dirs_exist_ok=True)
