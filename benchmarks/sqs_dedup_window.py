"""SendMessage rate on one FIFO queue as MiniStack's 5-minute dedup window fills.

Starts MiniStack twice, one after the other, each as a child process on a free
127.0.0.1 port: first as upstream ships it (``python -m ministack``), then through
hookstack's entry (``python -m stack.embedded.ministack.server``, dedup prune patched). Against
each, several sender threads (one keep-alive boto3 client each) send unique
deduplication ids to one FIFO queue as fast as they can for ``--minutes`` and the
rate and latency of the first and the last window are compared.

Goal: the patched server keeps at least 80 % of its t=0 rate after 5 minutes
(the dedup window is then full: every id sent in the last 300 s is in it).

    python benchmarks/sqs_dedup_window.py                    # 5 minutes per server
    python benchmarks/sqs_dedup_window.py --minutes 0.5      # quick check
    python benchmarks/sqs_dedup_window.py --json result.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.config import Config
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stack.embedded.emulator import MiniStackProcess
from stack.embedded.ministack.patches import PINNED_MINISTACK_VERSION, installed_ministack_version
from stack.percentiles import percentiles

GOAL_LATE_OVER_EARLY = 0.80
DEDUP_WINDOW_S = 300.0
WARMUP_SENDS_PER_THREAD = 5
CPU_SAMPLE_INTERVAL_S = 0.5

console = Console()


@dataclass
class WindowFigures:
    start_s: float
    end_s: float
    sends: int
    rate_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    # Server process CPU per send: the emulator's own cost, unlike the rate it does not
    # depend on how busy the (shared) machine and the sending client are.
    server_cpu_ms_per_send: float | None = None


@dataclass
class VariantResult:
    variant: str
    command: str
    duration_s: float
    total_sends: int
    errors: int
    sends_in_last_300s: int
    early: WindowFigures
    late: WindowFigures
    late_over_early: float | None
    server_cpu_late_over_early: float | None
    timeline: list[WindowFigures] = field(default_factory=list)


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of one process (Linux /proc), None where unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def server_cpu_ms_per_send(
    cpu_samples: list[tuple[float, float]], samples: list[tuple[float, float]], start_s: float, end_s: float
) -> float | None:
    """Server CPU between the first and last readings inside [start_s, end_s], per send there."""
    inside = [(t, cpu) for t, cpu in cpu_samples if start_s - 1e-6 <= t <= end_s + 1e-6]
    if len(inside) < 2:
        return None
    (t_a, cpu_a), (t_b, cpu_b) = inside[0], inside[-1]
    sends = sum(1 for done, _ in samples if t_a <= done < t_b)
    return round((cpu_b - cpu_a) / sends * 1000, 3) if sends else None


def window_figures(
    samples: list[tuple[float, float]], start_s: float, end_s: float, cpu_samples: list[tuple[float, float]] = ()
) -> WindowFigures:
    """Sends completed in [start_s, end_s) of the run, with their latency percentiles."""
    latencies = [lat * 1000 for done, lat in samples if start_s <= done < end_s]
    figures = percentiles(latencies, {"p50": 50, "p99": 99}, digits=2)
    span = end_s - start_s
    return WindowFigures(
        start_s=round(start_s, 3),
        end_s=round(end_s, 3),
        sends=len(latencies),
        rate_per_s=round(len(latencies) / span, 1) if span > 0 else 0.0,
        p50_ms=figures["p50"],
        p99_ms=figures["p99"],
        server_cpu_ms_per_send=server_cpu_ms_per_send(list(cpu_samples), samples, start_s, end_s),
    )


def sqs_client(endpoint_url: str, threads: int):
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(
            retries={"max_attempts": 1},
            max_pool_connections=threads,
            tcp_keepalive=True,
            connect_timeout=5,
            read_timeout=30,
        ),
    )


class SendLoad:
    """Sender threads sending unique dedup ids to one queue until a deadline or a count."""

    def __init__(self, endpoint_url: str, queue_url: str, threads: int, max_sends: int) -> None:
        self._clients = [sqs_client(endpoint_url, 1) for _ in range(threads)]
        self._queue_url = queue_url
        self._max_sends = max_sends
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._issued = 0
        self.errors = 0
        self.samples: list[list[tuple[float, float]]] = [[] for _ in range(threads)]
        self._threads = [threading.Thread(target=self._send_loop, args=(i,), daemon=True) for i in range(threads)]
        self.t0 = 0.0
        self._deadline = 0.0

    def warm_up(self) -> None:
        # Opens each client's keep-alive connection; these few ids are in the window too.
        for i, client in enumerate(self._clients):
            for n in range(WARMUP_SENDS_PER_THREAD):
                client.send_message(
                    QueueUrl=self._queue_url,
                    MessageBody="warm-up",
                    MessageGroupId=f"g{i}",
                    MessageDeduplicationId=f"warm-{i}-{n}",
                )

    def start(self, duration_s: float) -> None:
        self.t0 = time.perf_counter()
        self._deadline = self.t0 + duration_s
        for thread in self._threads:
            thread.start()

    def _claim(self) -> bool:
        with self._lock:
            if self._issued >= self._max_sends:
                return False
            self._issued += 1
            return True

    def _send_loop(self, index: int) -> None:
        client, samples, n = self._clients[index], self.samples[index], 0
        while not self._stop.is_set() and time.perf_counter() < self._deadline and self._claim():
            n += 1
            started = time.perf_counter()
            try:
                client.send_message(
                    QueueUrl=self._queue_url,
                    MessageBody=f"bench {index}/{n}",
                    MessageGroupId=f"g{index % 16}",
                    MessageDeduplicationId=f"t{index}-{n}",
                )
            except Exception:  # noqa: BLE001 - counted, not fatal: the figures say how many failed
                with self._lock:
                    self.errors += 1
                continue
            done = time.perf_counter()
            samples.append((done - self.t0, done - started))

    def completed(self) -> int:
        return sum(len(s) for s in self.samples)

    def stop_and_join(self) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=60)

    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)


def run_variant(
    variant: str, *, duration_s: float, window_s: float, threads: int, max_sends: int, progress: Progress
) -> VariantResult:
    patched = variant == "patched"
    with MiniStackProcess(patched=patched) as ministack:
        admin = sqs_client(ministack.endpoint_url, 1)
        queue_url = admin.create_queue(QueueName="bench-dedup.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        load = SendLoad(ministack.endpoint_url, queue_url, threads, max_sends)
        load.warm_up()
        task = progress.add_task(f"{variant:>9}", total=duration_s, rate="")
        server_pid = ministack.pid
        cpu_samples: list[tuple[float, float]] = []
        load.start(duration_s)
        try:
            last_count, last_t = 0, load.t0
            while True:
                cpu = process_cpu_seconds(server_pid)
                if cpu is not None:
                    cpu_samples.append((time.perf_counter() - load.t0, cpu))
                if not load.alive():
                    break
                time.sleep(CPU_SAMPLE_INTERVAL_S)
                now = time.perf_counter()
                count = load.completed()
                rate = (count - last_count) / (now - last_t) if now > last_t else 0.0
                last_count, last_t = count, now
                progress.update(
                    task, completed=min(now - load.t0, duration_s), rate=f"{rate:7.0f} sends/s  {count:>8} sent"
                )
        finally:
            load.stop_and_join()
        elapsed = min(time.perf_counter() - load.t0, duration_s)
        progress.update(task, completed=duration_s)
        command = " ".join(ministack.command()[1:])

    samples = [s for per_thread in load.samples for s in per_thread]
    end_s = max((done for done, _ in samples), default=0.0)
    run_s = max(elapsed, end_s)
    early = window_figures(samples, 0.0, min(window_s, run_s), cpu_samples)
    late = window_figures(samples, max(0.0, run_s - window_s), run_s, cpu_samples)
    timeline_step = max(window_s, run_s / 20)
    timeline = [
        window_figures(samples, i * timeline_step, (i + 1) * timeline_step, cpu_samples)
        for i in range(int(run_s // timeline_step))
    ]
    in_window = sum(1 for done, _ in samples if done >= run_s - DEDUP_WINDOW_S)
    ratio = round(late.rate_per_s / early.rate_per_s, 3) if early.rate_per_s else None
    cpu_ratio = (
        round(late.server_cpu_ms_per_send / early.server_cpu_ms_per_send, 3)
        if early.server_cpu_ms_per_send and late.server_cpu_ms_per_send
        else None
    )
    return VariantResult(
        variant=variant,
        command=command,
        duration_s=round(run_s, 2),
        total_sends=len(samples),
        errors=load.errors,
        sends_in_last_300s=in_window,
        early=early,
        late=late,
        late_over_early=ratio,
        server_cpu_late_over_early=cpu_ratio,
        timeline=timeline,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_results(results: list[VariantResult], window_s: float) -> None:
    table = Table(title=f"FIFO SendMessage on one queue, {window_s:g} s windows")
    for column in ("server", "window", "sends/s", "p50 ms", "p99 ms", "srv ms/send", "late/early"):
        table.add_column(column, justify="right")
    for r in results:
        ratio = "-" if r.late_over_early is None else f"{r.late_over_early:.2f}"
        for label, w, shown_ratio in (("t=0", r.early, ""), ("late", r.late, ratio)):
            table.add_row(
                r.variant if label == "t=0" else "",
                f"{label} {w.start_s:.0f}-{w.end_s:.0f}s",
                f"{w.rate_per_s:.0f}",
                _ms(w.p50_ms),
                _ms(w.p99_ms),
                _ms(w.server_cpu_ms_per_send),
                shown_ratio,
            )
    console.print(table)
    for r in results:
        cpu_ratio = "-" if r.server_cpu_late_over_early is None else f"{r.server_cpu_late_over_early:.2f}"
        console.print(
            f"{r.variant}: {r.total_sends} sends in {r.duration_s:.0f} s, "
            f"{r.sends_in_last_300s} of them in the last 300 s, {r.errors} errors; "
            f"server CPU per send late/early {cpu_ratio}"
        )
    for r in results:
        console.print(
            f"[bold]{r.variant}[/] timeline (sends/s | server CPU ms/send): "
            + "  ".join(f"{w.start_s:.0f}s:{w.rate_per_s:.0f}|{_ms(w.server_cpu_ms_per_send)}" for w in r.timeline)
        )
    for r in results:
        if r.variant == "patched" and r.late_over_early is not None:
            met = r.late_over_early >= GOAL_LATE_OVER_EARLY
            console.print(
                f"patched late/early {r.late_over_early:.2f} "
                f"(goal ≥ {GOAL_LATE_OVER_EARLY:.2f} after 5 minutes): "
                + ("[green]met[/]" if met else "[red]not met[/]")
                + (
                    ""
                    if r.duration_s >= DEDUP_WINDOW_S
                    else f" — run was {r.duration_s:.0f} s, shorter than the 300 s window"
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--minutes", type=float, default=5.0, help="sustained load per server (default 5: the dedup window fills)"
    )
    parser.add_argument(
        "--window-seconds", type=float, default=10.0, help="length of the early and late measurement windows"
    )
    parser.add_argument("--threads", type=int, default=4, help="sender threads (one client each)")
    parser.add_argument("--max-sends", type=int, default=1_000_000, help="upper bound on sends per server")
    parser.add_argument("--only", choices=["unpatched", "patched"], help="run one server instead of both")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    args = parser.parse_args()
    if not 0 < args.minutes <= 60:
        parser.error("--minutes must be in (0, 60]")
    if not 1 <= args.threads <= 32:
        parser.error("--threads must be in [1, 32]")
    duration_s = args.minutes * 60
    window_s = min(args.window_seconds, duration_s / 2)
    variants = [args.only] if args.only else ["unpatched", "patched"]

    version = installed_ministack_version()
    console.print(
        f"MiniStack {version} (pinned {PINNED_MINISTACK_VERSION}), {args.threads} "
        f"sender threads, {args.minutes:g} min per server, {platform.python_version()}"
    )
    results: list[VariantResult] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]}"),
        console=console,
    ) as progress:
        for variant in variants:
            results.append(
                run_variant(
                    variant,
                    duration_s=duration_s,
                    window_s=window_s,
                    threads=args.threads,
                    max_sends=args.max_sends,
                    progress=progress,
                )
            )
    print_results(results, window_s)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "benchmark": "sqs_dedup_window",
                    "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "ministack_version": version,
                    "config": {
                        "minutes": args.minutes,
                        "window_seconds": window_s,
                        "threads": args.threads,
                        "max_sends": args.max_sends,
                    },
                    "goal_late_over_early": GOAL_LATE_OVER_EARLY,
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
        )
        console.print(f"wrote {args.json}")


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    # Ctrl-C even when started with SIGINT ignored (a background job of a script), and
    # SIGTERM too, both end as KeyboardInterrupt so the MiniStack children are stopped.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        main()
    except KeyboardInterrupt:
        # MiniStackProcess.__exit__ has already stopped the child on the way out.
        console.print("interrupted")
        raise SystemExit(130) from None
