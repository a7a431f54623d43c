"""`hookstack demo`, the main job: up, a short signed Shopify burst, results, down."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stack.cli.app import app, console, out, progress
from stack.config import load_config


@app.command()
def demo(
    events: Annotated[int, typer.Option(min=1, max=5000, help="deliveries in the burst")] = 200,
    shops: Annotated[int, typer.Option(min=1, help="shops (message groups)")] = 8,
    threads: Annotated[int, typer.Option(min=1, max=64, help="concurrent connections")] = 8,
    poison: Annotated[int, typer.Option(min=0, help="deliberately schema-invalid deliveries")] = 2,
    warmup: Annotated[
        int, typer.Option(min=0, max=100, help="deliveries sent first, reported apart: they pay the cold starts")
    ] = 16,
    keep: Annotated[
        bool, typer.Option(help="leave the stack running afterwards (always, if it was already up)")
    ] = False,
    gateway: Annotated[str, typer.Option(help="hookstack | ministack")] = "hookstack",
    report: Annotated[Path | None, typer.Option(help="write the summary JSON here")] = None,
) -> None:
    """The main job: up → a short signed Shopify burst → results → down."""
    from stack.deploy.outputs import provider_secret, tenant_token
    from stack.embedded.emulator import Emulator
    from stack.embedded.lifecycle import down as embedded_down
    from stack.embedded.lifecycle import up as embedded_up
    from stack.home import hookstack_home
    from stack.ops import demo as burst

    config = load_config()
    # A stack the user already had up is left running, as found.
    keep = keep or Emulator(hookstack_home()).state() is not None
    result = embedded_up(config, gateway=gateway, progress=progress)
    console.print(f"[green]up[/green] in {result.total_s:.1f}s: {result.outputs.api_url}")
    try:
        found = result.outputs
        secret = provider_secret(found, "shopify")
        plan = burst.plan_deliveries(secret, events, shops, poison)
        token = tenant_token(found, config.tenants[0].name)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as bar:
            warming = bar.add_task("warm-up", total=warmup)
            warm_acks = burst.fire(
                found.api_url,
                token,
                burst.plan_deliveries(secret, warmup, shops, 0, seed=1),
                threads,
                on_ack=lambda _: bar.advance(warming),
                placement=config.token_placement,
            )
            warm_outcomes = burst.await_outcomes(found, [a.event_id for a in warm_acks if a.event_id])
            sending = bar.add_task("sending", total=len(plan))
            started = time.monotonic()
            acks = burst.fire(
                found.api_url,
                token,
                plan,
                threads,
                on_ack=lambda _: bar.advance(sending),
                placement=config.token_placement,
            )
            fire_s = time.monotonic() - started
            ids = [a.event_id for a in acks if a.event_id]
            waiting = bar.add_task("processing", total=len(ids))
            outcomes = burst.await_outcomes(found, ids, on_poll=lambda done, _: bar.update(waiting, completed=done))
        summary = burst.summary(acks, outcomes, burst.dlq_depth(found), fire_s)
        summary["cold_starts"] = burst.cold_starts(found)
        summary["warmup"] = burst.warmup_summary(warm_acks, warm_outcomes)
    finally:
        if not keep:
            embedded_down(config)
    _print_summary(summary, poison)
    if report:
        report.write_text(burst.summary_json(summary))
    if summary["missing"] or summary["accepted"] != summary["requests"] or summary["warmup"]["missing"]:
        raise typer.Exit(1)


def _print_summary(summary: dict, poison: int) -> None:
    table = Table(title="Shopify burst", show_header=False)
    warm = summary["warmup"]
    rows = [
        (
            "warm-up (reported apart)",
            f"{warm['requests']} deliveries, {warm['accepted']} accepted, "
            f"max ack {warm['max_ms']} ms, {warm['missing']} missing",
        ),
        ("requests", summary["requests"]),
        ("status codes", summary["status_counts"]),
        ("acks/s (client)", summary["achieved_rps"]),
        (
            "202 latency p50 / p95 / p99 / max ms",
            f"{summary['p50_ms']} / {summary['p95_ms']} / {summary['p99_ms']} / {summary['max_ms']}",
        ),
        ("processed", summary["processed"]),
        (f"dead-lettered (incl. {poison} deliberately invalid)", summary["dead_lettered"]),
        ("DLQ depth", summary["dlq_depth"]),
        ("missing", summary["missing"]),
        ("ack → processed p50 / p99 ms", f"{summary['e2e_p50_ms']} / {summary['e2e_p99_ms']}"),
        ("backlog drained in s", summary["drain_seconds"]),
    ]
    rows += [
        (f"cold starts: {name}", f"{c['cold_starts']} (init max {c['init_ms_max']:.0f} ms)")
        for name, c in summary.get("cold_starts", {}).items()
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    out.print(table)
    for error in summary["errors"]:
        console.print(f"[red]error sample:[/red] {error}")
