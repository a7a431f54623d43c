"""What hookstack's handlers add to the acknowledgement latency, against trivial handlers on the
same emulator, at the same offered rate.

One run deploys two stages into ONE embedded emulator, in a private hookstack home:

* ``dev``  — the real handlers (authorizer, producer verifying signatures, status, DTOs, …);
* ``base`` — ``handler_set="baseline"`` (``handlers/baseline.py``): the same template and hops,
  handlers that only do the I/O any implementation needs (the producer still sends to the queue).

Each stage gets its own hookstack gateway. Then ``hookstack load`` (steady, open model, real signed
deliveries) runs against each stage in alternating rounds, the order swapped every round (dev,
base, base, dev, …), so drift in the machine's load hits both alike. Before every round both
queues are left to drain, so no worker backlog competes with the next round. The dev stage is read
back end to end (every acknowledged event PROCESSED or DEAD_LETTERED); the baseline keeps no status,
which ``hookstack load`` detects from the deployed handler, so it reports no end-to-end figures.

Printed: ack p50 / p99 per stage (exact: the rounds' HDR histograms merged) and per round, the
achieved rate, the p99 ratio hookstack / baseline (goal: our handlers add < 15 %), per-hop means,
and, unless ``--no-capacity``, what each stage sustains: a closed-model run at saturation (16
users sending back to back), the figure ``benchmarks/load_generator.py --target-from`` compares
the generator's capacity with.

    python benchmarks/load_vs_baseline.py [--rate 100] [--duration 30] [--rounds 2] [--json PATH]
                                          [--reports-dir DIR] [--no-capacity] [--max-minutes 30]
                                          [--pause-worker] [--status-baseline]

Two diagnoses split the overhead: ``--pause-worker`` also runs the dev stage with its worker's
event source mapping disabled (the acknowledgement path alone), ``--status-baseline`` also deploys
a ``bstat`` stage with handler set ``baseline-status`` (the baseline plus the real producer's status
write) so the cost of that second durable write shows apart from the rest of our handlers.

Bounded: every load run has a time budget and the whole benchmark a deadline; the emulator, both
gateways and any Locust child are stopped at the end, on an error, on Ctrl-C or on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
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

STAGES = {"hookstack": "dev", "baseline": "base"}
# Diagnosis (--pause-worker): the dev stage with its worker's event source mapping disabled during
# the round, so only the acknowledgement path runs; the worker drains the backlog afterwards.
PAUSED = "hookstack-worker-paused"
# Diagnosis (--status-baseline): the baseline plus the real producer's status write, a stage of its
# own, so the cost of that second durable write shows apart from everything else our handlers do.
STATUS_BASELINE = "baseline-status"
VARIANT_STAGES = {**STAGES, PAUSED: "dev", STATUS_BASELINE: "bstat"}
GOAL_P99_OVERHEAD = 0.15
QUIET_TIMEOUT_S = 180.0
CAPACITY_USERS = 16
CAPACITY_RATE = 5000.0  # closed model: far above what the target answers, so users never pause
# A second of answers whose median is this many times the round's (and above STALL_MIN_MS) is a
# stall: the machine or the emulator paused. Shown per round, so one noisy round is visible.
STALL_FACTOR = 10.0
STALL_MIN_MS = 50.0


def stalled_seconds(timeline: list[dict[str, Any]], origin_epoch: float, p50_ms: float | None) -> list[int]:
    """Load-time seconds whose per-second p50 was a stall (see STALL_FACTOR)."""
    if not p50_ms:
        return []
    limit = max(STALL_MIN_MS, STALL_FACTOR * p50_ms)
    return [
        round(row["t"] - origin_epoch) for row in timeline if row.get("p50_ms") is not None and row["p50_ms"] > limit
    ]


class DeadlineReached(RuntimeError):
    """The benchmark's overall time bound was reached."""


@dataclass
class RunFigures:
    stage: str
    handlers: str
    round: int
    exit_code: int
    summary: dict[str, Any]
    latency_histogram: str | None
    report_dir: Path
    seconds: float
    stalls: list[int] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        s = self.summary
        return {
            "handlers": self.handlers,
            "stage": self.stage,
            "round": self.round,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 1),
            "mode": s.get("mode"),
            **{
                key: s.get(key)
                for key in (
                    "offered_rps",
                    "achieved_rps",
                    "requests",
                    "acks",
                    "error_rate",
                    "p50_ms",
                    "p90_ms",
                    "p99_ms",
                    "p999_ms",
                    "max_ms",
                    "service_p99_ms",
                    "generator_saturated",
                    "pool_exhausted",
                    "accepted",
                    "processed",
                    "dead_lettered",
                    "missing",
                    "e2e_p99_ms",
                    "drain_seconds",
                )
            },
            "e2e": s.get("e2e"),
            "status_counts": s.get("status_counts"),
            "per_hop": s.get("per_hop"),
            "generator_notes": s.get("generator_notes"),
            "stalled_seconds": self.stalls,
        }


@dataclass
class Benchmark:
    args: argparse.Namespace
    console: Console
    home: Path
    work: Path
    deadline: float
    env: dict[str, str] = field(default_factory=dict)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def stages(self) -> dict[str, str]:
        """Handler set → stage, for every stage this run deploys."""
        extra = {STATUS_BASELINE: VARIANT_STAGES[STATUS_BASELINE]} if self.args.status_baseline else {}
        return {**STAGES, **extra}

    # --- the stacks ---------------------------------------------------------------------------

    def up(self) -> dict[str, Any]:
        from stack.config import load_config
        from stack.embedded.lifecycle import up

        timings = {}
        for handlers, stage in self.stages().items():
            with self.console.status(f"deploying stage {stage} ({handlers} handlers)") as status:
                result = up(
                    load_config(stage=stage, handler_set=handlers),
                    progress=lambda text, s=stage: status.update(f"stage {s}: {text}"),
                )
            timings[stage] = round(result.total_s, 1)
            self.console.print(
                f"stage [bold]{stage}[/] ({handlers} handlers) up in {result.total_s:.1f} s: {result.outputs.api_url}"
            )
        return timings

    def wait_quiet(self) -> float:
        """Wait until every stage's queue is empty: no worker backlog may run during a round."""
        from stack.deploy.outputs import load_outputs

        started = time.monotonic()
        queues = []
        for stage in self.stages().values():
            outputs = load_outputs("embedded", stage)
            queues.append((outputs.client("sqs"), outputs.queue_url))
        limit = min(QUIET_TIMEOUT_S, max(0.0, self.remaining()))
        depth = wait_for_empty_queues(queues, limit)
        if depth:
            self.console.print(f"[yellow]queues still hold {depth} messages after {limit:.0f} s; measuring anyway[/]")
        return time.monotonic() - started

    # --- one `hookstack load` run -------------------------------------------------------------

    def set_worker(self, stage: str, enabled: bool) -> None:
        """Enable or disable the stage's worker event source mapping."""
        from stack.deploy.outputs import load_outputs

        outputs = load_outputs("embedded", stage)
        client = outputs.client("lambda")
        mappings = client.list_event_source_mappings(FunctionName=outputs.function_names["worker"])
        for mapping in mappings["EventSourceMappings"]:
            client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=enabled)

    def load(self, handlers: str, round_index: int, extra: list[str], budget_s: float, label: str) -> RunFigures:
        stage = VARIANT_STAGES[handlers]
        if self.remaining() < budget_s:
            raise DeadlineReached(f"{self.remaining():.0f} s left, a {label} run needs up to {budget_s:.0f} s")
        name = f"{label}-{round_index}-{stage}" + ("-worker-paused" if handlers == PAUSED else "")
        run = run_load(self.work, self.env, name, stage, ["--seed", str(round_index), *extra], budget_s)
        raw, summary, code = run.raw, run.summary, run.exit_code
        return RunFigures(
            stage=stage,
            handlers=handlers,
            round=round_index,
            exit_code=code,
            summary=summary,
            latency_histogram=raw["histograms"]["latency"],
            report_dir=self.work / name,
            seconds=run.seconds,
            stalls=stalled_seconds(raw.get("timeline", []), raw["origin_epoch"], summary["p50_ms"]),
        )

    def fixed_rate_round(self, handlers: str, round_index: int) -> RunFigures:
        args = self.args
        extra = [
            "--scenario",
            "steady",
            "--rate",
            repr(args.rate),
            "--duration",
            f"{args.duration}s",
            "--warmup",
            str(args.warmup),
            "--drain-timeout",
            f"{args.drain_timeout}s",
        ]
        budget = 60 + args.warmup + args.duration + 10 + args.drain_timeout + 30
        if handlers != PAUSED:
            return self.load(handlers, round_index, extra, budget, "fixed")
        self.set_worker(STAGES["hookstack"], False)
        try:  # nothing is processed during the round: no read-back
            return self.load(handlers, round_index, [*extra, "--no-e2e"], budget, "fixed")
        finally:
            self.set_worker(STAGES["hookstack"], True)

    def capacity_run(self, handlers: str) -> RunFigures:
        args = self.args
        # Closed model at saturation: achieved rps is what the stage sustains. No read-back: the
        # backlog this leaves is torn down with the stack.
        extra = [
            "--scenario",
            "steady",
            "--mode",
            "closed",
            "--users",
            str(CAPACITY_USERS),
            "--rate",
            repr(CAPACITY_RATE),
            "--duration",
            f"{args.capacity_duration}s",
            "--warmup",
            "0",
            "--no-e2e",
            "--tail",
            "5",
        ]
        budget = 60 + args.capacity_duration + 5 + 30
        return self.load(handlers, 0, extra, budget, "capacity")


# --- figures -----------------------------------------------------------------------------------


def pooled(runs: list[RunFigures]) -> dict[str, Any]:
    """Exact percentiles over every round of one stage: the rounds' HDR histograms merged."""
    histogram = latency.merge(run.latency_histogram for run in runs)
    stats = latency.summarize(histogram)
    seconds = sum(run.summary["duration_s"] for run in runs)
    completed = sum(run.summary["completed"] for run in runs)
    requests = sum(run.summary["requests"] for run in runs)
    errors = sum(run.summary["errors"] for run in runs)
    return {
        "rounds": len(runs),
        "acks": stats["count"],
        "requests": requests,
        "p50_ms": stats["p50_ms"],
        "p90_ms": stats["p90_ms"],
        "p99_ms": stats["p99_ms"],
        "p999_ms": stats["p999_ms"],
        "max_ms": stats["max_ms"],
        "mean_ms": stats["mean_ms"],
        "achieved_rps": round(completed / seconds, 2) if seconds else None,
        "error_rate": round(errors / requests, 6) if requests else None,
        "p99_per_round_ms": [run.summary["p99_ms"] for run in runs],
        "p50_per_round_ms": [run.summary["p50_ms"] for run in runs],
        "generator_saturated": any(run.summary["generator_saturated"] for run in runs),
    }


def pooled_hop_means(runs: list[RunFigures]) -> dict[str, dict[str, Any]]:
    """Per hop and source, the mean over every round (means pool exactly, weighted by count)."""
    sums: dict[str, list[float]] = {}
    for run in runs:
        per_hop = run.summary.get("per_hop") or {}
        for hop in ("authorizer", "producer", "worker"):
            data = per_hop.get(hop) or {}
            if not data.get("available"):
                continue
            for key in ("runtime", "handler"):
                stats = data.get(key) or {}
                if stats.get("count") and stats.get("mean_ms") is not None:
                    label = f"{hop} · {data.get('source')} · {key}"
                    total = sums.setdefault(label, [0.0, 0])
                    total[0] += stats["mean_ms"] * stats["count"]
                    total[1] += stats["count"]
    return {label: {"mean_ms": round(total / count, 3), "count": int(count)} for label, (total, count) in sums.items()}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def compare(rounds: dict[str, list[RunFigures]]) -> dict[str, Any]:
    result = compare_pair(rounds["hookstack"], rounds["baseline"])
    # Diagnoses, each against the same baseline: the status write alone (baseline + that write),
    # and the acknowledgement path alone (dev with its worker paused).
    for variant, key, figures_key in (
        (STATUS_BASELINE, "status_write", "baseline_status"),
        (PAUSED, "worker_paused", "hookstack"),
    ):
        if rounds.get(variant):
            result[key] = diagnosis(compare_pair(rounds[variant], rounds["baseline"]), figures_key)
    return result


def diagnosis(pair: dict[str, Any], figures_key: str) -> dict[str, Any]:
    """A variant's comparison with the baseline, its own figures under ``figures_key``."""
    return {
        figures_key: pair["hookstack"],
        "p99_ratio": pair["p99_ratio"],
        "p50_ratio": pair["p50_ratio"],
        "p99_overhead": pair["p99_overhead"],
        "per_hop_means": pair["per_hop_means"]["hookstack"],
    }


def compare_pair(ours_runs: list[RunFigures], base_runs: list[RunFigures]) -> dict[str, Any]:
    rounds = {"hookstack": ours_runs, "baseline": base_runs}
    ours, base = pooled(rounds["hookstack"]), pooled(rounds["baseline"])
    p99_ratio = ratio(ours["p99_ms"], base["p99_ms"])
    pairs = [
        ratio(a.summary["p99_ms"], b.summary["p99_ms"])
        for a, b in zip(rounds["hookstack"], rounds["baseline"], strict=True)
    ]
    return {
        "hookstack": ours,
        "baseline": base,
        "p99_ratio": p99_ratio,
        "p50_ratio": ratio(ours["p50_ms"], base["p50_ms"]),
        "p99_ratio_per_round": pairs,
        "p99_overhead": round(p99_ratio - 1, 3) if p99_ratio is not None else None,
        "goal": {
            "p99_overhead_below": GOAL_P99_OVERHEAD,
            "met": p99_ratio is not None and p99_ratio - 1 < GOAL_P99_OVERHEAD,
        },
        "per_hop_means": {
            "hookstack": pooled_hop_means(rounds["hookstack"]),
            "baseline": pooled_hop_means(rounds["baseline"]),
        },
    }


# --- output ------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else (f"{value:.1f}" if value >= 10 else f"{value:.2f}")


def print_rounds(console: Console, runs: list[RunFigures]) -> None:
    table = Table(title="Rounds (steady, open model; latency from each request's intended start)")
    for column in (
        "round",
        "handlers",
        "offered req/s",
        "achieved req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "end to end",
        "stalls",
        "generator",
    ):
        table.add_column(
            column,
            justify="left" if column in ("handlers", "end to end", "stalls", "generator") else "right",
            overflow="fold",
        )
    for run in runs:
        s = run.summary
        e2e = s.get("e2e") or {}
        end_to_end = (
            f"{s['processed']} done, {s['dead_lettered']} DLQ, {s['missing']} missing, drained "
            f"{s['drain_seconds']:.0f} s after"
            if e2e.get("available") and s["drain_seconds"] is not None
            else f"{s['missing']} missing (timed out)"
            if e2e.get("available")
            else "not measured"
        )
        stalls = run.stalls
        table.add_row(
            str(run.round),
            run.handlers,
            f"{s['offered_rps']:.0f}",
            f"{s['achieved_rps']:.1f}",
            _ms(s["p50_ms"]),
            _ms(s["p99_ms"]),
            _ms(s["max_ms"]),
            f"{(s['error_rate'] or 0):.2%}",
            end_to_end,
            f"{len(stalls)} s (t={stalls[0]}–{stalls[-1]})" if stalls else "none",
            "saturated" if s["generator_saturated"] else "ok",
        )
    console.print(table)
    console.print(
        "end to end: the dev stage's acknowledged events read back from the events table; the baseline "
        "keeps no status and a paused worker processes nothing during its round, so neither is measured. "
        f"stalls: seconds whose median ack was > {STALL_FACTOR:g}× the round's (and > {STALL_MIN_MS:g} ms).",
        highlight=False,
    )


def print_comparison(console: Console, result: dict[str, Any], rate: float) -> None:
    table = Table(
        title=f"Ack latency at {rate:g} req/s offered: hookstack handlers vs trivial baseline "
        "(all rounds pooled, exact)"
    )
    # Diagnostic variants, each with its ratio to the same baseline.
    extras = [
        (label, figures)
        for label, figures in (
            ("hookstack, worker paused", (result.get("worker_paused") or {}).get("hookstack")),
            ("baseline + status write", (result.get("status_write") or {}).get("baseline_status")),
        )
        if figures
    ]
    table.add_column("", justify="left")
    for column in ["hookstack", "baseline", "ratio"] + [c for label, _ in extras for c in (label, "ratio")]:
        table.add_column(column, justify="right")
    ours, base = result["hookstack"], result["baseline"]

    def times(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}×"

    for key, label in (
        ("p50_ms", "p50 ms"),
        ("p90_ms", "p90 ms"),
        ("p99_ms", "p99 ms"),
        ("p999_ms", "p99.9 ms"),
        ("max_ms", "max ms"),
        ("mean_ms", "mean ms"),
    ):
        extra = [c for _, f in extras for c in (_ms(f[key]), times(ratio(f[key], base[key])))]
        table.add_row(label, _ms(ours[key]), _ms(base[key]), times(ratio(ours[key], base[key])), *extra)
    extra = [c for _, f in extras for c in (", ".join(_ms(v) for v in f["p99_per_round_ms"]), "")]
    table.add_row(
        "p99 per round ms",
        ", ".join(_ms(v) for v in ours["p99_per_round_ms"]),
        ", ".join(_ms(v) for v in base["p99_per_round_ms"]),
        ", ".join(times(v) for v in result["p99_ratio_per_round"]),
        *extra,
    )
    extra = [c for _, f in extras for c in (f"{f['achieved_rps']}", "")]
    table.add_row("achieved req/s", f"{ours['achieved_rps']}", f"{base['achieved_rps']}", "", *extra)
    extra = [c for _, f in extras for c in (f"{f['acks']} / {f['error_rate']:.2%}", "")]
    table.add_row(
        "acks / error rate",
        f"{ours['acks']} / {ours['error_rate']:.2%}",
        f"{base['acks']} / {base['error_rate']:.2%}",
        "",
        *extra,
    )
    console.print(table)
    overhead = result["p99_overhead"]
    if overhead is not None:
        verdict = "[green]met[/]" if result["goal"]["met"] else "[red]not met[/]"
        console.print(
            f"our handlers add [bold]{overhead:+.0%}[/] to the ack p99 (goal < {GOAL_P99_OVERHEAD:.0%}: {verdict})"
        )
    paused = result.get("worker_paused") or {}
    if paused.get("p99_overhead") is not None:
        console.print(
            f"with the dev worker paused (the acknowledgement path alone) they add "
            f"{paused['p99_overhead']:+.0%} to the ack p99"
        )
    status = result.get("status_write") or {}
    if status.get("p99_overhead") is not None:
        console.print(
            f"the producer's status write alone (baseline + that one write) adds "
            f"{status['p99_overhead']:+.0%} to the baseline's ack p99"
        )
    hops = Table(title="Per-hop means (pooled over rounds)")
    for column in ("hop · source · figure", "hookstack ms", "baseline ms"):
        hops.add_column(column, justify="left" if column.startswith("hop") else "right")
    means = result["per_hop_means"]
    if status.get("per_hop_means"):
        hops.add_column("baseline + status ms", justify="right")
    for label in sorted(set(means["hookstack"]) | set(means["baseline"])):
        extra = [_ms((status["per_hop_means"].get(label) or {}).get("mean_ms"))] if status.get("per_hop_means") else []
        hops.add_row(
            label,
            _ms((means["hookstack"].get(label) or {}).get("mean_ms")),
            _ms((means["baseline"].get(label) or {}).get("mean_ms")),
            *extra,
        )
    console.print(hops)


def print_capacity(console: Console, capacity: dict[str, Any]) -> None:
    table = Table(title=f"Sustained throughput (closed model, {CAPACITY_USERS} users back to back)")
    # Service times (send → answer): a closed loop at saturation has no schedule to be late against.
    for column in ("handlers", "achieved req/s", "service p50 ms", "service p99 ms", "errors", "generator"):
        table.add_column(column, justify="left" if column in ("handlers", "generator") else "right")
    for handlers, row in capacity.items():
        table.add_row(
            handlers,
            f"{row['achieved_rps']:.1f}",
            _ms(row["service_p50_ms"]),
            _ms(row["service_p99_ms"]),
            f"{(row['error_rate'] or 0):.2%}",
            "saturated" if row["generator_saturated"] else "ok",
        )
    console.print(table)


# --- the run -----------------------------------------------------------------------------------


def run(bench: Benchmark) -> dict[str, Any]:
    args, console = bench.args, bench.console
    result: dict[str, Any] = {
        "rate_rps": args.rate,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
    }
    result["up_seconds"] = bench.up()
    variants = (
        ["hookstack", "baseline"]
        + ([PAUSED] if args.pause_worker else [])
        + ([STATUS_BASELINE] if args.status_baseline else [])
    )
    rounds: dict[str, list[RunFigures]] = {name: [] for name in variants}
    done: list[RunFigures] = []
    try:
        for index in range(args.rounds):
            # Rotated every round (dev, base / base, dev / …) so drift in the machine's load hits all.
            order = variants[index % len(variants) :] + variants[: index % len(variants)]
            for handlers in order:
                quiet = bench.wait_quiet()
                console.print(
                    f"round {index + 1}/{args.rounds}: {handlers} (stage {VARIANT_STAGES[handlers]}), "
                    f"{args.rate:g} req/s for {args.duration:g} s (queues quiet after {quiet:.0f} s)"
                )
                figures = bench.fixed_rate_round(handlers, index + 1)
                rounds[handlers].append(figures)
                done.append(figures)
                s = figures.summary
                console.print(
                    f"  p50 {_ms(s['p50_ms'])} ms · p99 {_ms(s['p99_ms'])} ms · achieved "
                    f"{s['achieved_rps']:.1f} req/s · exit {figures.exit_code}"
                )
    except DeadlineReached as exc:
        console.print(f"[yellow]deadline: {exc}; reporting the rounds done[/]")
    result["runs"] = [run.row() for run in done]
    if rounds["hookstack"] and rounds["baseline"]:
        result["comparison"] = compare(rounds)
    if not args.no_capacity:
        capacity: dict[str, Any] = {}
        try:
            for handlers in ("baseline", "hookstack"):  # the baseline first: its backlog drains at once
                bench.wait_quiet()
                console.print(
                    f"capacity: {handlers} (stage {STAGES[handlers]}), closed model, "
                    f"{CAPACITY_USERS} users, {args.capacity_duration:g} s"
                )
                figures = bench.capacity_run(handlers)
                capacity[handlers] = {
                    key: figures.summary.get(key)
                    for key in (
                        "achieved_rps",
                        "accepted_rps",
                        "service_p50_ms",
                        "service_p99_ms",
                        "error_rate",
                        "generator_saturated",
                        "generator_cpu",
                        "status_counts",
                    )
                }
        except DeadlineReached as exc:
            console.print(f"[yellow]deadline: {exc}; capacity not fully measured[/]")
        if capacity:
            result["capacity"] = capacity
            # What the embedded target sustains at best: the fastest handler set on it.
            result["embedded_sustained_rps"] = max(row["achieved_rps"] for row in capacity.values())
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    if args.reports_dir:
        args.reports_dir.mkdir(parents=True, exist_ok=True)
        for figures in done:
            shutil.copytree(figures.report_dir, args.reports_dir / figures.report_dir.name, dirs_exist_ok=True)
        result["reports_dir"] = str(args.reports_dir)
    return result


def print_result(console: Console, result: dict[str, Any]) -> None:
    comparison = result.get("comparison")
    if comparison:
        print_comparison(console, comparison, result["rate_rps"])
    if "capacity" in result:
        print_capacity(console, result["capacity"])
    before, after = result["load_average_before"][0], result.get("load_average_after", [float("nan")])[0]
    console.print(
        f"load average {before:.1f} → {after:.1f} on {result['cpu_count']} CPUs (shared: figures move "
        "with whatever else runs)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="offered rate, req/s (steady, open model)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per stage, order swapped every round")
    parser.add_argument("--warmup", type=int, default=20, help="deliveries before each round, reported apart")
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="longest read-back wait (hookstack)")
    parser.add_argument("--capacity-duration", type=float, default=15.0, help="seconds of each capacity run")
    parser.add_argument("--no-capacity", action="store_true", help="skip the sustained-throughput runs")
    parser.add_argument(
        "--pause-worker",
        action="store_true",
        help="diagnosis: also run the dev stage with its worker paused (ack path alone)",
    )
    parser.add_argument(
        "--status-baseline",
        action="store_true",
        help="diagnosis: also run a baseline stage that makes the producer's status write "
        "(handler set baseline-status), to show that write's share of the overhead",
    )
    parser.add_argument("--max-minutes", type=float, default=30.0, help="deadline of the whole benchmark")
    parser.add_argument("--json", dest="json_path", type=Path, help="write the figures here ('-': stdout)")
    parser.add_argument("--reports-dir", type=Path, help="keep every round's summary.json and report.html here")
    args = parser.parse_args(argv)
    if not (
        0 < args.rate <= 1000
        and 1 <= args.duration <= 600
        and 1 <= args.rounds <= 10
        and 0 <= args.warmup <= 200
        and 1 <= args.capacity_duration <= 120
        and 1 <= args.max_minutes <= 120
    ):
        parser.error(
            "--rate 0..1000, --duration 1..600, --rounds 1..10, --warmup 0..200, "
            "--capacity-duration 1..120, --max-minutes 1..120"
        )

    console = Console(stderr=args.json_path == Path("-"))
    if not console.is_terminal:
        console.width = 130
    home = Path(tempfile.mkdtemp(prefix="hookstack-bench-home-"))
    work = home / "runs"
    work.mkdir()
    previous_home = os.environ.get("HOOKSTACK_HOME")
    os.environ["HOOKSTACK_HOME"] = str(home)
    env = {**os.environ, "HOOKSTACK_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    env.pop("HOOKSTACK_STAGE", None)  # the stage is given on every command line
    bench = Benchmark(args, console, home, work, time.monotonic() + args.max_minutes * 60, env)
    console.print(f"private hookstack home {home}")
    result: dict[str, Any] | None = None
    code = 1
    try:
        with sigterm_as_interrupt():
            try:
                result = run(bench)
                code = 0
            except KeyboardInterrupt:
                console.print("[yellow]interrupted: stopping everything[/]")
                code = 130
            finally:
                tear_down(console, home)
    finally:
        if previous_home is None:
            os.environ.pop("HOOKSTACK_HOME", None)
        else:
            os.environ["HOOKSTACK_HOME"] = previous_home
        left = leftovers(home)
        shutil.rmtree(home, ignore_errors=True)
        if left:
            console.print(f"[red]processes left behind: {left}[/]")
    if result is None:
        return code
    if result.get("runs"):
        print_rounds(console, [_runs_view(row) for row in result["runs"]])
    print_result(console, result)
    if args.json_path is not None:
        text = json.dumps(result, indent=2, default=str)
        if args.json_path == Path("-"):
            print(text)
        else:
            args.json_path.parent.mkdir(parents=True, exist_ok=True)
            args.json_path.write_text(text)
            console.print(f"figures written to {args.json_path}")
    return code


def _runs_view(row: dict[str, Any]) -> RunFigures:
    """A JSON row back as a RunFigures for printing (the report directories are gone by then)."""
    return RunFigures(
        stage=row["stage"],
        handlers=row["handlers"],
        round=row["round"],
        exit_code=row["exit_code"],
        summary=row,
        latency_histogram=None,
        report_dir=Path("."),
        seconds=row["seconds"],
        stalls=row.get("stalled_seconds") or [],
    )


if __name__ == "__main__":
    sys.exit(main())
