"""The queue → worker half on the embedded target: the emulator's own event source mapping against
hookstack's event plane, and what the worker costs the acknowledgement path.

One run deploys into ONE embedded emulator, in a private hookstack home:

* ``mini``  — the real handlers; the worker's mapping served by the emulator's own poller
  (``event_plane="ministack"``: one batch at a time whatever the number of message groups);
* ``plane`` — the same stack; the mapping served by hookstack's event plane (one batch in flight
  per active message group, up to ``MaximumConcurrency``);
* ``base``  — ``handler_set="baseline"`` (trivial handlers doing only the I/O any implementation
  needs), on the event plane too: the acknowledgement baseline.

All three answer through hookstack's gateway. Part 1 runs ``hookstack load`` (steady, open model,
real signed deliveries over ``--groups`` shops) on ``mini`` and ``plane`` in alternating order and
reads every event back: worker events/s during the load, drain time after it, end-to-end p50/p99,
peak batches in flight, each as a ratio mini / plane. Part 2 runs ``plane`` and ``base`` at
``--ack-rate`` with their workers running, alternating, and compares the acknowledgement p99 (the
rounds' HDR histograms merged). Goals (docs/event-plane.md): drain within 5 s of the load's end,
end-to-end p99 under 3 s, acknowledgement p99 within 1.3x the baseline. Beside each run: the
emulator's CPU as a share of one core and the machine's busy share (Linux), since on a shared
machine the single-process emulator's share of a core is what bounds every figure.

    python benchmarks/event_plane.py [--rate 300] [--duration 15] [--groups 50] [--rounds 1]
                                     [--max-concurrency 10] [--warmup-seconds 5]
                                     [--ack-rate 100] [--ack-duration 30]
                                     [--ack-rounds 2] [--no-ack] [--json PATH] [--max-minutes 30]

Bounded: every load run has a time budget and the whole benchmark a deadline; the emulator, the
gateways, the event planes and any Locust child are stopped at the end, on an error or on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.embedded_load import (  # noqa: E402 - run as a script: the repository goes on sys.path first
    leftovers,
    run_load,
    sigterm_as_interrupt,
    tear_down,
    wait_for_empty_queues,
)
from loadtests.report import latency  # noqa: E402 - run as a script: the repository goes on sys.path first

# stage → (handler set, who serves the worker's mapping)
STAGES = {"mini": ("hookstack", "ministack"), "plane": ("hookstack", "hookstack"), "base": ("baseline", "hookstack")}
GOAL_DRAIN_S = 5.0
GOAL_E2E_P99_MS = 3000.0
GOAL_ACK_P99_RATIO = 1.3
QUIET_TIMEOUT_S = 240.0
DRAIN_FIGURES = (
    ("worker events/s during load", "worker_events_per_s_during_load", "higher"),
    ("drain after load, s", "drain_seconds", "lower"),
    ("end-to-end p50, ms", "e2e_p50_ms", "lower"),
    ("end-to-end p99, ms", "e2e_p99_ms", "lower"),
    ("ack p99, ms", "p99_ms", "lower"),
)


class DeadlineReached(RuntimeError):
    """The benchmark's overall time bound was reached."""


def process_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, all cores (Linux /proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


class CpuWatch:
    """Where the CPU went during one run: the emulator's share of one core, the machine's busy share.

    The emulator is one single-threaded process carrying every storage call; on a shared machine
    it gets only part of a core, and the drain and latency figures then measure that share."""

    def __init__(self, home: Path) -> None:
        from stack.embedded.emulator import Emulator

        state = Emulator(home).state()
        self.pid = state.pid if state is not None else None
        self.started = time.monotonic()
        self.emulator = process_cpu_seconds(self.pid) if self.pid else None
        self.machine = machine_cpu_seconds()

    def figures(self) -> dict[str, float | None]:
        wall = time.monotonic() - self.started
        emulator = process_cpu_seconds(self.pid) if self.pid else None
        machine = machine_cpu_seconds()
        out: dict[str, float | None] = {"seconds": round(wall, 1), "emulator_core_share": None, "machine_busy": None}
        if emulator is not None and self.emulator is not None and wall > 0:
            out["emulator_core_share"] = round((emulator - self.emulator) / wall, 2)
        if machine is not None and self.machine is not None and machine[1] > self.machine[1]:
            out["machine_busy"] = round((machine[0] - self.machine[0]) / (machine[1] - self.machine[1]), 2)
        return out


class Bench:
    def __init__(self, args: argparse.Namespace, console: Console, home: Path, env: dict[str, str]) -> None:
        self.args, self.console, self.home, self.env = args, console, home, env
        self.work = Path(tempfile.mkdtemp(prefix="hookstack-event-plane-bench-"))
        self.deadline = time.monotonic() + args.max_minutes * 60

    def up(self, stages: list[str]) -> None:
        from stack.config import load_config
        from stack.embedded.lifecycle import up

        for stage in stages:
            handlers, plane = STAGES[stage]
            config = load_config(stage=stage, handler_set=handlers, worker_max_concurrency=self.args.max_concurrency)
            with self.console.status(f"deploying stage {stage} ({handlers} handlers, {plane} event plane)"):
                result = up(config, event_plane=plane)
            self.console.print(f"stage [bold]{stage}[/] up in {result.total_s:.1f} s: {result.outputs.api_url}")

    def wait_quiet(self, stages: list[str]) -> None:
        """No backlog of an earlier run may compete with the next one."""
        from stack.deploy.outputs import load_outputs

        queues = []
        for stage in stages:
            outputs = load_outputs("embedded", stage)
            queues.append((outputs.client("sqs"), outputs.queue_url))
        if wait_for_empty_queues(queues, min(QUIET_TIMEOUT_S, max(0.0, self.deadline - time.monotonic()))):
            self.console.print("[yellow]queues still hold messages; measuring anyway[/]")

    def load(self, stage: str, name: str, extra: list[str], budget_s: float) -> dict[str, Any]:
        if self.deadline - time.monotonic() < budget_s:
            raise DeadlineReached(f"a {name} run needs up to {budget_s:.0f} s")
        watch = CpuWatch(self.home)
        run = run_load(self.work, self.env, name, stage, extra, budget_s)
        return {
            **run.summary,
            "_histogram": run.raw["histograms"]["latency"],
            "_exit_code": run.exit_code,
            "_cpu": watch.figures(),
        }

    def warm_up(self, stage: str) -> None:
        """A short discarded run: every function's environments (the worker's included, up to its
        concurrency) start before anything is measured, as they would be warm on a busy stage."""
        if self.args.warmup_seconds <= 0:
            return
        extra = [
            "--scenario",
            "steady",
            "--rate",
            repr(self.args.rate),
            "--duration",
            f"{self.args.warmup_seconds}s",
            "--groups",
            str(self.args.groups),
            "--no-e2e",
        ]
        self.load(stage, f"warmup-{stage}", extra, 60 + self.args.warmup_seconds + 60)

    def steady_round(self, stage: str, name: str, rate: float, duration: int, seed: int) -> dict[str, Any]:
        """``steady`` at ``rate`` for ``duration`` s over the shops, every event read back."""
        args = self.args
        extra = ["--scenario", "steady", "--rate", repr(rate), "--duration", f"{duration}s"]
        extra += ["--groups", str(args.groups), "--seed", str(seed), "--drain-timeout", f"{args.drain_timeout}s"]
        return self.load(stage, name, extra, 60 + duration + args.drain_timeout + 60)


def mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 3) if known else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def drain_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    figures: dict[str, Any] = {key: mean([r.get(key) for r in runs]) for _, key, _ in DRAIN_FIGURES}
    figures["peak_in_flight_batches"] = max(
        ((r.get("event_plane") or {}).get("peak_in_flight_batches") or 1 for r in runs), default=None
    )
    figures["peak_in_flight_groups"] = max(
        ((r.get("event_plane") or {}).get("peak_in_flight_groups") or 0 for r in runs), default=None
    )
    figures["missing"] = sum(r.get("missing") or 0 for r in runs)
    figures["accepted"] = sum(r.get("accepted") or 0 for r in runs)
    figures["cpu"] = [r.get("_cpu") for r in runs]
    return figures


def ack_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    stats = latency.summarize(latency.merge(r["_histogram"] for r in runs))
    return {
        "rounds": len(runs),
        "acks": stats["count"],
        "p50_ms": stats["p50_ms"],
        "p99_ms": stats["p99_ms"],
        "cpu": [r.get("_cpu") for r in runs],
    }


def run(bench: Bench) -> dict[str, Any]:
    args, console = bench.args, bench.console
    result: dict[str, Any] = {
        "rate_rps": args.rate,
        "duration_s": args.duration,
        "groups": args.groups,
        "max_concurrency": args.max_concurrency,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
    }
    stages = ["mini", "plane"] + ([] if args.no_ack else ["base"])
    bench.up(stages)
    for stage in stages:
        console.print(f"warming up {stage}: {args.warmup_seconds} s at {args.rate:g} req/s (not measured)")
        bench.warm_up(stage)
    runs: dict[str, list[dict[str, Any]]] = {"mini": [], "plane": []}
    for index in range(args.rounds):
        order = ["mini", "plane"] if index % 2 == 0 else ["plane", "mini"]
        for stage in order:
            bench.wait_quiet(stages)
            console.print(f"round {index + 1}: {args.rate:g} req/s for {args.duration} s on {stage}")
            summary = bench.steady_round(stage, f"drain-{index}-{stage}", args.rate, args.duration, index)
            runs[stage].append(summary)
            cpu = summary["_cpu"]
            console.print(
                f"  drain {summary.get('drain_seconds')} s, e2e p99 {summary.get('e2e_p99_ms')} ms, "
                f"worker {summary.get('worker_events_per_s_during_load')} events/s, missing {summary.get('missing')}; "
                f"emulator {cpu['emulator_core_share']} of a core, machine {cpu['machine_busy']} busy"
            )
    result["drain"] = {stage: drain_figures(r) for stage, r in runs.items()}
    mini, plane = result["drain"]["mini"], result["drain"]["plane"]
    result["drain"]["ratio_mini_over_plane"] = {key: ratio(mini[key], plane[key]) for _, key, _ in DRAIN_FIGURES} | {
        "peak_in_flight_batches": ratio(mini["peak_in_flight_batches"], plane["peak_in_flight_batches"])
    }
    if not args.no_ack:
        ack_runs: dict[str, list[dict[str, Any]]] = {"plane": [], "base": []}
        for index in range(args.ack_rounds):
            order = ["plane", "base"] if index % 2 == 0 else ["base", "plane"]
            for stage in order:
                bench.wait_quiet(stages)
                console.print(f"ack round {index + 1}: {args.ack_rate:g} req/s for {args.ack_duration} s on {stage}")
                ack_runs[stage].append(
                    bench.steady_round(stage, f"ack-{index}-{stage}", args.ack_rate, args.ack_duration, index)
                )
        result["ack"] = {stage: ack_figures(r) for stage, r in ack_runs.items()}
        result["ack"]["p99_ratio_plane_over_base"] = ratio(
            result["ack"]["plane"]["p99_ms"], result["ack"]["base"]["p99_ms"]
        )
        result["ack"]["missing"] = sum(r.get("missing") or 0 for r in ack_runs["plane"])
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    result["goals"] = goals(result)
    return result


def goals(result: dict[str, Any]) -> dict[str, Any]:
    plane = result["drain"]["plane"]
    out = {
        f"drain <= {GOAL_DRAIN_S:g} s": plane["drain_seconds"] is not None and plane["drain_seconds"] <= GOAL_DRAIN_S,
        f"e2e p99 < {GOAL_E2E_P99_MS:g} ms": plane["e2e_p99_ms"] is not None and plane["e2e_p99_ms"] < GOAL_E2E_P99_MS,
        "0 missing": plane["missing"] == 0 and result["drain"]["mini"]["missing"] == 0,
    }
    if "ack" in result:
        value = result["ack"]["p99_ratio_plane_over_base"]
        out[f"ack p99 <= {GOAL_ACK_P99_RATIO:g}x baseline"] = value is not None and value <= GOAL_ACK_P99_RATIO
    return out


def print_result(console: Console, result: dict[str, Any]) -> None:
    drain = result["drain"]
    table = Table(
        title=f"steady {result['rate_rps']:g} req/s for {result['duration_s']} s over {result['groups']} shops "
        f"(MaximumConcurrency {result['max_concurrency']})"
    )
    for column in ("", "emulator's mapping", "hookstack event plane", "ratio emulator / plane"):
        table.add_column(column, justify="right" if column else "left")
    for label, key, _ in (*DRAIN_FIGURES, ("peak batches in flight", "peak_in_flight_batches", "higher")):
        table.add_row(
            label, str(drain["mini"][key]), str(drain["plane"][key]), str(drain["ratio_mini_over_plane"][key])
        )
    table.add_row("peak message groups in flight", "-", str(drain["plane"]["peak_in_flight_groups"]), "")
    table.add_row(
        "accepted / missing", *(f"{drain[s]['accepted']} / {drain[s]['missing']}" for s in ("mini", "plane")), ""
    )
    console.print(table)
    if "ack" in result:
        ack = result["ack"]
        console.print(
            f"ack p99 with the worker running, {result['ack']['plane']['rounds']} round(s): "
            f"hookstack {ack['plane']['p99_ms']} ms, baseline {ack['base']['p99_ms']} ms, "
            f"ratio {ack['p99_ratio_plane_over_base']}"
        )
    for stage in ("mini", "plane"):
        console.print(f"CPU during the {stage} round(s): {drain[stage]['cpu']}")
    if "ack" in result:
        for stage in ("plane", "base"):
            console.print(f"CPU during the {stage} ack round(s): {result['ack'][stage]['cpu']}")
    for goal, met in result["goals"].items():
        console.print(f"goal {goal}: " + ("[green]met[/]" if met else "[red]NOT met[/]"))
    console.print(f"load average before/after: {result['load_average_before']} / {result['load_average_after']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--groups", type=int, default=50, help="shops the traffic spreads over")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--max-concurrency", type=int, default=10, help="the worker mapping's MaximumConcurrency")
    parser.add_argument("--drain-timeout", type=int, default=120)
    parser.add_argument("--warmup-seconds", type=int, default=5, help="a discarded run per stage first (0: none)")
    parser.add_argument("--ack-rate", type=float, default=100.0)
    parser.add_argument("--ack-duration", type=int, default=30)
    parser.add_argument("--ack-rounds", type=int, default=2)
    parser.add_argument("--no-ack", action="store_true", help="skip part 2 (acknowledgement p99 against the baseline)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--max-minutes", type=float, default=30.0)
    args = parser.parse_args(argv)
    console = Console()
    home = Path(tempfile.mkdtemp(prefix="hookstack-bench-home-"))
    os.environ["HOOKSTACK_HOME"] = str(home)
    os.environ["HOOKSTACK_REQUIRE_MINISTACK_PATCHES"] = "1"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    bench = Bench(args, console, home, env)
    try:
        with sigterm_as_interrupt():
            result = run(bench)
    except (DeadlineReached, RuntimeError) as exc:
        console.print(f"[red]benchmark stopped: {exc}[/] (runs kept in {bench.work})")
        return 1
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/] (runs kept in {bench.work})")
        return 130
    finally:
        tear_down(console, home)
        assert not leftovers(home)
    print_result(console, result)
    result["runs_dir"] = str(bench.work)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        console.print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
