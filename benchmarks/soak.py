"""Soak: a steady rate for a long time — flat memory and latency, nothing lost.

One embedded stack in a private hookstack home; ``hookstack load`` offers ``--rate`` req/s
(steady, open model) in back-to-back windows of ``--window-minutes`` (default 5) until
``--minutes`` (default 30) of load have run. Each window is its own load run, so its figures are
exact: ack p50/p99/max, accepted / processed / missing after its drain, the drain time; between
windows only the next run's start-up (a few seconds) and the drain pass. After every window the
resident memory of each stack process is read (the gateway, the environments of each function,
the emulator), and sampled every 2 s throughout for the peaks. Printed: one row per window, then
the first and last window compared (memory growth in MiB, p99 ratio) and the total missing
(must be 0).

    python benchmarks/soak.py [--rate 20] [--minutes 30] [--window-minutes 5] [--drain-timeout 300]
                              [--json PATH] [--reports-dir DIR]

Bounded: every window has a time budget and the settings are refused unless the whole run fits
``--max-minutes``; everything it started stops at the end, on an error, on Ctrl-C or on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402 - run as a script: the repository goes on sys.path first
from rich.table import Table  # noqa: E402

from benchmarks.embedded_load import (  # noqa: E402
    PrivateStack,
    add_run_options,
    load_average,
    main_on_private_stack,
    print_load_average,
)
from benchmarks.process_memory import MemorySampler  # noqa: E402

# Start-up of one `hookstack load` run (Locust, warm-up) and its summary, on top of load and drain.
RUN_OVERHEAD_S = 120.0


def run(args: argparse.Namespace, console: Console, stack: PrivateStack) -> dict[str, Any]:
    sampler = MemorySampler(stack.home).start()
    windows: list[dict[str, Any]] = []
    count = math.ceil(args.minutes / args.window_minutes)
    window_s = args.minutes * 60 / count
    result: dict[str, Any] = {
        "rate_rps": args.rate,
        "minutes": args.minutes,
        "windows": windows,
        "cpu_count": os.cpu_count(),
        "load_average_before": load_average(),
        "memory_start_mib": sampler.mark("start"),
    }
    try:
        for index in range(1, count + 1):
            console.print(f"window {index}/{count}: {args.rate:g} req/s for {window_s:.0f} s")
            load = stack.load(
                f"window-{index}",
                [
                    "--scenario",
                    "steady",
                    "--rate",
                    repr(args.rate),
                    "--duration",
                    f"{window_s:.0f}s",
                    "--warmup",
                    "20" if index == 1 else "0",
                    "--drain-timeout",
                    f"{args.drain_timeout:g}s",
                    "--seed",
                    str(index),
                ],
                RUN_OVERHEAD_S + window_s + args.drain_timeout,
            )
            summary = load.summary
            row = {
                "window": index,
                "exit_code": load.exit_code,
                **{
                    key: summary.get(key)
                    for key in (
                        "achieved_rps",
                        "requests",
                        "acks",
                        "error_rate",
                        "p50_ms",
                        "p99_ms",
                        "max_ms",
                        "accepted",
                        "processed",
                        "dead_lettered",
                        "missing",
                        "drain_seconds",
                        "status_counts",
                    )
                },
                "memory_mib": sampler.mark(f"window {index}"),
            }
            windows.append(row)
            console.print(
                f"  p99 {row['p99_ms']} ms · drain {row['drain_seconds']} s · missing {row['missing']} · "
                f"memory {json.dumps(row['memory_mib'])}"
            )
    finally:
        sampler.stop()
    result["memory_peak_mib"] = {role: round(memory.peak_mib, 1) for role, memory in sorted(sampler.roles.items())}
    result["processes"] = {
        role: {
            "first": memory.processes_first,
            "last": memory.processes_last,
            "pids_seen": len(sampler.pids_seen[role]),
        }
        for role, memory in sorted(sampler.roles.items())
    }
    result["load_average_after"] = load_average()
    if windows:
        first, last = windows[0], windows[-1]
        result["memory_growth_mib"] = {
            role: round(last["memory_mib"].get(role, 0.0) - first["memory_mib"].get(role, 0.0), 1)
            for role in sorted(set(first["memory_mib"]) | set(last["memory_mib"]))
        }
        result["p99_last_over_first"] = (
            round(last["p99_ms"] / first["p99_ms"], 2) if first.get("p99_ms") and last.get("p99_ms") else None
        )
        result["missing_total"] = sum(int(w["missing"] or 0) for w in windows)
    return result


def print_result(console: Console, result: dict[str, Any]) -> None:
    windows = result["windows"]
    roles = sorted({role for w in windows for role in w["memory_mib"]})
    table = Table(title=f"Soak: {result['rate_rps']:g} req/s steady for {result['minutes']:g} min, per window")
    for column in ("window", "acks", "p50 ms", "p99 ms", "max ms", "drain s", "missing", *[f"{r} MiB" for r in roles]):
        table.add_column(column, justify="right")
    start = result["memory_start_mib"]
    table.add_row("start", "", "", "", "", "", "", *[str(start.get(role, "")) for role in roles])
    for w in windows:
        table.add_row(
            str(w["window"]),
            str(w["acks"]),
            str(w["p50_ms"]),
            str(w["p99_ms"]),
            str(w["max_ms"]),
            str(w["drain_seconds"]),
            str(w["missing"]),
            *[str(w["memory_mib"].get(role, "")) for role in roles],
        )
    console.print(table)
    if windows:
        console.print(f"memory, last window − first, MiB: {json.dumps(result['memory_growth_mib'])}")
        console.print(f"peak memory, MiB: {json.dumps(result['memory_peak_mib'])}")
        console.print(f"processes (first → last, pids seen): {json.dumps(result['processes'])}")
        console.print(
            f"p99 last window / first: {result['p99_last_over_first']} · missing, all windows: "
            f"[bold]{result['missing_total']}[/]"
        )
    print_load_average(console, result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="offered rate, req/s (steady, open model)")
    parser.add_argument("--minutes", type=float, default=30.0, help="minutes of load in all")
    parser.add_argument("--window-minutes", type=float, default=5.0, help="minutes per window (one load run each)")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="longest wait for each window's backlog, s")
    add_run_options(parser, max_minutes=90.0, reports="every window's")
    args = parser.parse_args(argv)
    if not (0 < args.rate <= 500 and 1 <= args.minutes <= 600 and 1 <= args.window_minutes <= args.minutes):
        parser.error("--rate 0..500, --minutes 1..600, --window-minutes 1..--minutes")
    if not 10 <= args.drain_timeout <= 3600:
        parser.error("--drain-timeout 10..3600")
    windows = math.ceil(args.minutes / args.window_minutes)
    needed_min = args.minutes + windows * (RUN_OVERHEAD_S + args.drain_timeout) / 60 + 3
    return main_on_private_stack(parser, args, needed_min, run, print_result, width=150)


if __name__ == "__main__":
    sys.exit(main())
