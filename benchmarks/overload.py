"""Overload: offer the embedded target far more than it can serve, and show it survives.

One embedded stack in a private hookstack home. A recovery probe (one signed delivery every
0.2 s, its own connection) runs throughout; after a quiet baseline, ``hookstack load`` offers
``--rate`` (default 2,000 req/s, open model) for ``--duration`` s, then waits for the backlog to
drain (bounded by ``--drain-timeout``) and reads every acknowledged event back. Printed like a
load run, plus:

* answers by status: every one must be a 202 or a documented refusal (429 stage throttling,
  503 connection cap; a 504 is the integration timeout: reported apart);
* every 202 processed: ``missing`` of the load and of the probe (must be 0);
* resident memory of each stack process (gateway, environments per function, emulator) before
  the overload, at its peak and after the drain; whether any stack process died (the gateway's
  own counters: environment crashes, timeouts, function errors);
* recovery: how many seconds after the overload the probe's answers were back to normal (202,
  within 3× the baseline p99 and at least 250 ms) for 10 s straight.

    python benchmarks/overload.py [--rate 2000] [--duration 30] [--drain-timeout 600]
                                  [--baseline 15] [--json PATH] [--reports-dir DIR] [--max-minutes 30]

Bounded: the load run has a time budget, the probe a maximum duration, and the settings are
refused unless the whole run fits ``--max-minutes``; everything it started stops at the end, on
an error, on Ctrl-C or on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
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
from benchmarks.recovery_probe import RecoveryProbe, recovered_after, summarize  # noqa: E402

# Answers the stack gives by design when it cannot serve more (docs/gateway.md).
DOCUMENTED_REFUSALS = {"429", "503"}
INTEGRATION_TIMEOUT = "504"
NORMAL_FACTOR = 3.0
NORMAL_FLOOR_MS = 250.0
# After the load run returns (its drain done), the probe keeps going this long.
PROBE_AFTER_S = 10.0
# Seconds the load run waits for its in-flight requests after the load (past the 29 s integration timeout).
TAIL_S = 60.0
# The probe's first answers (cold starts) before the baseline starts, waited for at most this long.
WARM_UP_ANSWERS = 10
WARM_UP_BOUND_S = 120.0


def stack_counters(stats: dict[str, Any]) -> dict[str, Any]:
    """The gateway's failure counters, summed over its functions, and its answers by status."""
    functions = stats.get("functions", {})
    totals = {
        key: sum(int(f.get(key, 0)) for f in functions.values())
        for key in ("invocations", "errors", "timeouts", "crashes", "init_failures", "abandoned", "throttles")
    }
    return {**totals, "responses": stats.get("responses", {})}


def run(args: argparse.Namespace, console: Console, stack: PrivateStack) -> dict[str, Any]:
    from stack.deploy.outputs import provider_secret, tenant_token
    from stack.embedded.gateway.process import read_stats

    outputs = stack.outputs
    sampler = MemorySampler(stack.home).start()
    result: dict[str, Any] = {"rate_rps": args.rate, "duration_s": args.duration, "cpu_count": os.cpu_count()}
    result["load_average_before"] = load_average()
    stats_before = stack_counters(read_stats(outputs.api_url))
    probe = RecoveryProbe(outputs.api_url, tenant_token(outputs), provider_secret(outputs, "shopify")).start()
    try:
        # Cold starts first (the probe's first answers wait for the environments): not the baseline.
        for _ in range(int(WARM_UP_BOUND_S / 0.5)):
            if len(probe.answers) >= WARM_UP_ANSWERS:
                break
            time.sleep(0.5)
        baseline_start = time.time()
        console.print(f"baseline: the probe alone for {args.baseline:g} s")
        time.sleep(args.baseline)
        baseline_end = time.time()
        result["memory_before_mib"] = sampler.mark("before")
        console.print(
            f"overload: {args.rate:g} req/s offered for {args.duration:g} s (open model), then the drain "
            f"(at most {args.drain_timeout:g} s)"
        )
        run_budget = 120 + args.duration + TAIL_S + args.drain_timeout + 60
        load = stack.load(
            "overload",
            [
                "--scenario",
                "steady",
                "--rate",
                repr(args.rate),
                "--duration",
                f"{args.duration:g}s",
                "--warmup",
                "20",
                "--drain-timeout",
                f"{args.drain_timeout:g}s",
                # Answers still in flight when the load ends are waited for (queued behind the
                # overload they take tens of seconds): a 202 the harness stopped waiting for would
                # be acknowledged by the stack but missing from the read-back.
                "--tail",
                f"{TAIL_S:g}",
            ],
            run_budget,
        )
        result["memory_after_drain_mib"] = sampler.mark("after drain")
        time.sleep(PROBE_AFTER_S)
    finally:
        probe.stop()
        sampler.stop()
    summary, raw = load.summary, load.raw
    overload_start = float(raw["origin_epoch"])
    overload_end = overload_start + args.duration
    baseline = summarize(probe.answers, baseline_start, baseline_end)
    normal_ms = max(NORMAL_FLOOR_MS, NORMAL_FACTOR * (baseline["p99_ms"] or 0.0))
    stats_after = stack_counters(read_stats(outputs.api_url))
    result.update(
        {
            "exit_code": load.exit_code,
            "load": {
                key: summary.get(key)
                for key in (
                    "offered_rps",
                    "achieved_rps",
                    "requests",
                    "acks",
                    "error_rate",
                    "p50_ms",
                    "p90_ms",
                    "p99_ms",
                    "max_ms",
                    "service_p99_ms",
                    "generator_saturated",
                    "pool_exhausted",
                    "unsent",
                    "accepted",
                    "processed",
                    "dead_lettered",
                    "missing",
                    "drain_seconds",
                    "status_counts",
                )
            },
            "transport_errors": raw.get("transport_errors", {}),
            "probe": {
                "baseline": baseline,
                "during_overload": summarize(probe.answers, overload_start, overload_end),
                "after_overload": summarize(probe.answers, overload_end, float("inf")),
                "after_overload_by_5s": [
                    {"from_s": start, **summarize(probe.answers, overload_end + start, overload_end + start + 5)}
                    for start in range(
                        0, int(max((a.epoch for a in probe.answers), default=overload_end) - overload_end) + 1, 5
                    )
                ],
                "normal_ms": normal_ms,
                "recovered_after_s": recovered_after(probe.answers, overload_end, normal_ms),
                "unprocessed": probe.unprocessed(),
            },
            "memory_mib": {
                role: {
                    "before": result["memory_before_mib"].get(role),
                    "peak": round(memory.peak_mib, 1),
                    "after_drain": result["memory_after_drain_mib"].get(role),
                    "processes_before": memory.processes_first,
                    "processes_after": memory.processes_last,
                }
                for role, memory in sorted(sampler.roles.items())
            },
            "stack_pids_seen": {role: len(pids) for role, pids in sampler.pids_seen.items()},
            "gateway_counters": {
                key: (stats_after[key] - stats_before[key]) if key != "responses" else stats_after[key]
                for key in stats_after
            },
            "load_average_after": load_average(),
        }
    )
    statuses = {str(k): v for k, v in (summary.get("status_counts") or {}).items()}
    result["undocumented_answers"] = {
        status: count
        for status, count in statuses.items()
        if status != "202" and status not in DOCUMENTED_REFUSALS and status != INTEGRATION_TIMEOUT
    }
    return result


def print_result(console: Console, result: dict[str, Any]) -> None:
    load = result["load"]
    table = Table(title=f"Overload: {result['rate_rps']:g} req/s offered for {result['duration_s']:g} s (open model)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in (
        ("offered / achieved req/s", f"{load['offered_rps']} / {load['achieved_rps']}"),
        ("requests (answered 202)", f"{load['requests']} ({load['acks']})"),
        ("answers by status", json.dumps(load["status_counts"])),
        ("transport errors", json.dumps(result["transport_errors"])),
        ("undocumented answers", json.dumps(result["undocumented_answers"])),
        ("ack p50 / p99 / max ms", f"{load['p50_ms']} / {load['p99_ms']} / {load['max_ms']}"),
        ("generator saturated / pool exhausted", f"{load['generator_saturated']} / {load['pool_exhausted']}"),
        ("accepted / processed / dead-lettered", f"{load['accepted']} / {load['processed']} / {load['dead_lettered']}"),
        ("missing (must be 0)", f"{load['missing']}"),
        ("drain after the load, s", f"{load['drain_seconds']}"),
        ("gateway counters (during the run)", json.dumps(result["gateway_counters"])),
    ):
        table.add_row(label, value)
    console.print(table)
    probe = result["probe"]
    ptable = Table(title="Recovery probe (one signed delivery every 0.2 s, its own connection)")
    for column in ("phase", "requests", "statuses", "p50 ms", "p99 ms", "max ms"):
        ptable.add_column(column, justify="left" if column in ("phase", "statuses") else "right")
    for phase in ("baseline", "during_overload", "after_overload"):
        row = probe[phase]
        ptable.add_row(
            phase.replace("_", " "),
            str(row["requests"]),
            json.dumps(row["statuses"]),
            str(row["p50_ms"]),
            str(row["p99_ms"]),
            str(row["max_ms"]),
        )
    console.print(ptable)
    console.print(
        "probe after the overload, per 5 s (from the end of the overload: p50 / max ms, statuses): "
        + "; ".join(
            f"{w['from_s']}s {w['p50_ms']}/{w['max_ms']} {json.dumps(w['statuses'])}"
            for w in probe["after_overload_by_5s"]
        )
    )
    recovered = probe["recovered_after_s"]
    console.print(
        f"normal again (every answer a 202, p90 within {probe['normal_ms']:.0f} ms, for 10 s): "
        + (f"[bold]{recovered:.1f} s[/] after the overload" if recovered is not None else "[red]not seen[/]")
        + f"; probe events not processed: {len(probe['unprocessed'])}"
    )
    mtable = Table(title="Resident memory per stack process, MiB (environments: summed)")
    for column in ("process", "before", "peak", "after drain", "processes before → after"):
        mtable.add_column(column, justify="left" if column == "process" else "right")
    for role, row in result["memory_mib"].items():
        mtable.add_row(
            role,
            str(row["before"] if row["before"] is not None else "-"),
            str(row["peak"]),
            str(row["after_drain"] if row["after_drain"] is not None else "-"),
            f"{row['processes_before']} → {row['processes_after']}",
        )
    console.print(mtable)
    print_load_average(console, result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="offered rate, req/s (open model)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of overload")
    parser.add_argument("--drain-timeout", type=float, default=600.0, help="longest wait for the backlog, s")
    parser.add_argument("--baseline", type=float, default=15.0, help="seconds of probe alone before the overload")
    add_run_options(parser, max_minutes=30.0, reports="the load run's")
    args = parser.parse_args(argv)
    if not (1 <= args.rate <= 10_000 and 1 <= args.duration <= 600 and 10 <= args.drain_timeout <= 3600):
        parser.error("--rate 1..10000, --duration 1..600, --drain-timeout 10..3600")
    if not (5 <= args.baseline <= 120 and 1 <= args.max_minutes <= 120):
        parser.error("--baseline 5..120, --max-minutes 1..120")
    needed_min = (args.baseline + 120 + args.duration + TAIL_S + args.drain_timeout + 60 + 180) / 60
    return main_on_private_stack(parser, args, needed_min, run, print_result, width=130)


if __name__ == "__main__":
    sys.exit(main())
