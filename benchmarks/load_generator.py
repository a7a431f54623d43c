"""How much load can the generator itself offer, per CPU core?

Runs the real harness (``hookstack load``'s Locust child, real signed deliveries of the Shopify
mix, open model) against a loopback server that answers 202 at once (``loadtests.noop_target``),
at increasing offered rates, one generator process. For each step it prints the achieved rate,
the generator process's CPU, requests per second per core, latencies and whether the harness
judged itself saturated. It stops at the first step the generator cannot hold.

Goal: per core, at least 5x what the embedded target sustains. Give that figure with
``--target-rps N``, or ``--target-from FIGURES.json`` (the ``--json`` output of
``benchmarks/load_vs_baseline.py``, whose capacity runs measure it on this machine): the ratio is
then printed.

    python benchmarks/load_generator.py [--rates 500,1000,2000,3000,4000] [--duration 10]
                                        [--processes 2] [--url http://127.0.0.1:PORT/dev]
                                        [--target-from figures.json | --target-rps 420]

``--url`` points the same measurement at any loopback base URL (e.g. a trivial-handler baseline
stack) instead of the built-in no-op server.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from loadtests.cli import check_url
from loadtests.launcher import LocustRun, run_locust
from loadtests.model.params import LoadParams
from loadtests.report import summary as run_summary
from stack.embedded.processes import stop_group


def start_noop_server() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtests.noop_target", "--port", "0", "--max-seconds", "1800"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        stop_group(process.pid, process=process)
        raise SystemExit(f"no-op server did not start: {line!r}")
    return process, line.removeprefix("listening on ") + "/bench"


def measure(
    url: str, rate: float, duration: float, processes: int, users: int | None, max_body_bytes: int, work: Path
) -> dict:
    params = LoadParams(scenario="steady", rate=rate, duration=duration, users=users, seed=1, tail=5.0)
    run = LocustRun(
        url=url,
        params=params,
        report_dir=work / f"rate-{int(rate)}-p{processes}",
        processes=processes,
        token="bench-token",
        secrets={"shopify": "bench-secret"},
        max_body_bytes=max_body_bytes,
    )
    result = run_locust(run)
    built, _ = run_summary.build(result, target="noop")
    senders = {node: cpu for node, cpu in built["generator_cpu"].items() if node != "master"}
    cpu_cores = sum(cpu["mean_percent"] for cpu in senders.values()) / 100
    return {
        "offered_rps": built["offered_rps"],
        "achieved_rps": built["achieved_rps"],
        "processes": max(1, processes),
        "users": built["users"],
        "generator_cpu_percent": round(cpu_cores * 100, 1),
        "rps_per_core": round(built["achieved_rps"] / cpu_cores) if cpu_cores else None,
        "p50_ms": built["p50_ms"],
        "p99_ms": built["p99_ms"],
        "service_p99_ms": built["service_p99_ms"],
        "wake_lag_p99_ms": built["wake_lag_p99_ms"],
        "errors": built["errors"],
        "saturated": built["generator_saturated"],
        "notes": built["generator_notes"],
    }


GOAL_RATIO = 5.0


def target_rps(args: argparse.Namespace) -> tuple[float, str] | None:
    """(what the embedded target sustains, where the figure comes from), if given."""
    if args.target_rps is not None:
        return args.target_rps, "--target-rps"
    if args.target_from is None:
        return None
    figures = json.loads(Path(args.target_from).read_text())
    value = figures.get("embedded_sustained_rps")
    if not isinstance(value, int | float) or value <= 0:
        raise SystemExit(
            f"{args.target_from}: no embedded_sustained_rps (run load_vs_baseline.py with its capacity runs)"
        )
    capacity = figures.get("capacity", {})
    detail = ", ".join(f"{name} {row['achieved_rps']:.0f}" for name, row in capacity.items())
    return float(value), f"{args.target_from} (closed-model capacity runs: {detail} req/s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,1000,2000,3000,4000,5000")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=0, help="0: one process; N: Locust master + N workers")
    parser.add_argument("--users", type=int, default=None)
    parser.add_argument("--max-body-bytes", type=int, default=256 * 1024)
    parser.add_argument("--url", default=None, help="a loopback base URL instead of the built-in no-op server")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--target-rps",
        type=float,
        default=None,
        help="what the embedded target sustains, req/s: prints the generator's ratio to it",
    )
    parser.add_argument(
        "--target-from",
        type=Path,
        default=None,
        help="take that figure from benchmarks/load_vs_baseline.py --json output",
    )
    args = parser.parse_args()
    console = Console()
    if not console.is_terminal:
        console.width = 160
    target = target_rps(args)

    server = None
    url = args.url
    if url is None:
        server, url = start_noop_server()
    check_url(url, allow_remote=False)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="load-bench-") as work:
            for rate in (float(r) for r in args.rates.split(",")):
                row = measure(url, rate, args.duration, args.processes, args.users, args.max_body_bytes, Path(work))
                rows.append(row)
                versus = (
                    f" ({row['rps_per_core'] / target[0]:.1f}× target)"
                    if target is not None and row["rps_per_core"]
                    else ""
                )
                console.print(
                    f"offered {row['offered_rps']:>7.0f}  achieved {row['achieved_rps']:>7.1f} req/s  "
                    f"generator CPU {row['generator_cpu_percent']:>5.1f} %  -> {row['rps_per_core']} "
                    f"req/s/core{versus}  p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  wake-lag p99 "
                    f"{row['wake_lag_p99_ms']} ms  errors {row['errors']}  saturated {row['saturated']}",
                    highlight=False,
                )
                if row["saturated"] or row["achieved_rps"] < 0.97 * row["offered_rps"]:
                    for note in row["notes"]:
                        console.print(f"    {note}", highlight=False)
                    break
    finally:
        if server is not None:
            stop_group(server.pid, process=server)
    held = [r for r in rows if not r["saturated"] and r["achieved_rps"] >= 0.97 * r["offered_rps"]]
    verdict: dict = {}
    if held:
        best = max(held, key=lambda r: r["achieved_rps"])
        console.print(
            f"highest rate held without saturation: {best['achieved_rps']:.0f} req/s "
            f"({best['rps_per_core']} req/s per core of generator CPU)",
            highlight=False,
        )
        if target is not None and best["rps_per_core"]:
            per_core = best["rps_per_core"] / target[0]
            verdict = {
                "target_rps": target[0],
                "target_source": target[1],
                "held_rps": best["achieved_rps"],
                "rps_per_core": best["rps_per_core"],
                "ratio_per_core": round(per_core, 2),
                "ratio_one_process": round(best["achieved_rps"] / target[0], 2),
                "goal_ratio_per_core": GOAL_RATIO,
                "met": per_core >= GOAL_RATIO,
            }
            mark = "[green]met[/]" if verdict["met"] else "[red]not met[/]"
            console.print(
                f"generator per core {best['rps_per_core']} req/s = [bold]{per_core:.1f}×[/] what the "
                f"embedded target sustains ({target[0]:.0f} req/s, from {target[1]}); one process held "
                f"{verdict['ratio_one_process']:.1f}× (goal per core ≥ {GOAL_RATIO:g}×: {mark})"
            )
        elif target is None:
            console.print("no --target-rps / --target-from: the ratio to the embedded target is not printed")
    else:
        console.print("[red]no rate was held without saturation[/]")
    if args.json:
        print(json.dumps({"rows": rows, "versus_target": verdict or None}, indent=2))


if __name__ == "__main__":
    main()
