"""`hookstack cost`: what a load test costs on AWS, from its report or from a plan (the estimate itself is
``stack.ops.cost``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stack.errors import HookstackError, UsageError
from stack.ops.cost import (
    FUNCTIONS,
    CostConfig,
    CostEstimate,
    estimate_cost,
    estimate_for_plan,
    format_usd,
    load_prices,
)


def _memory_overrides(items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        name, sep, mb = item.partition("=")
        if not sep or name not in FUNCTIONS or not mb.isdigit():
            raise HookstackError(f"--memory {item!r}: expected FUNCTION=MB with FUNCTION one of {', '.join(FUNCTIONS)}")
        out[name] = int(mb)
    return out


def _quantity(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4g}" if value < 1000 else f"{value:,.1f}"


def render_estimate(estimate: CostEstimate, console: Console, title: str) -> None:
    table = Table(
        title=title,
        caption=f"{estimate.region} list prices taken {estimate.prices_taken_on.isoformat()} · free tier ignored",
    )
    table.add_column("Service")
    table.add_column("Item")
    table.add_column("Quantity", justify="right")
    table.add_column("Unit price", justify="right")
    table.add_column("Cost", justify="right")
    for item in estimate.lines:
        table.add_row(
            item.service, item.item, f"{_quantity(item.quantity)} {item.unit}", item.price, format_usd(item.usd)
        )
    table.add_section()
    table.add_row("Total", "", "", "", format_usd(estimate.total_usd), style="bold")
    console.print(table)
    console.print("Assumptions:")
    for note in estimate.assumptions:
        console.print(f"  - {note}", markup=False, highlight=False)


def cost(
    report: Annotated[
        Path | None,
        typer.Argument(
            help="Load-test JSON summary to price. Omit it and give --rate and --duration to price a "
            "planned run instead.",
            dir_okay=False,
        ),
    ] = None,
    report_option: Annotated[
        Path | None, typer.Option("--report", help="The same load-test JSON summary, as an option.", dir_okay=False)
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Planned request rate (rps).")] = None,
    duration: Annotated[
        str | None, typer.Option(help="Planned duration, as `hookstack load` takes it: 600, 600s, 10m, 1h.")
    ] = None,
    body_bytes: Annotated[
        int | None, typer.Option(help="Mean webhook body size in bytes (default: the report's, else 8192).")
    ] = None,
    memory: Annotated[
        list[str] | None,
        typer.Option("--memory", help="FUNCTION=MB, repeatable (default: the stack's own settings)."),
    ] = None,
    cache_hit_ratio: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Assumed authorizer cache hit ratio (default 0.9).")
    ] = None,
    prices_file: Annotated[
        Path | None, typer.Option("--prices", help="Prices file (default: the packaged us-east-1 list prices).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON.")] = False,
) -> None:
    """Estimate what a load test costs on AWS: from its report, or from a plan before running it."""
    from loadtests.model.params import parse_duration  # pure: no Locust import
    from stack.config import load_config  # local import: keeps the pure functions config-free

    if report is not None and report_option is not None:
        raise UsageError("give the load report once: as an argument or with --report")
    report = report or report_option
    try:
        seconds = parse_duration(duration) if duration is not None else None
    except ValueError as exc:
        raise UsageError(f"--duration: {exc}") from None
    planned = rate is not None or seconds is not None
    if (report is None) == (not planned):
        raise UsageError("give either a load report, or --rate and --duration for a planned run")
    if planned and (rate is None or seconds is None):
        raise UsageError("a planned run needs both --rate and --duration")
    config = CostConfig.from_hookstack(
        load_config(), memory_mb=_memory_overrides(memory or []) or None, authorizer_cache_hit_ratio=cache_hit_ratio
    )
    prices = load_prices(prices_file)
    if report is not None:
        try:
            data = json.loads(report.read_text())
        except OSError as exc:
            raise HookstackError(f"cannot read load report {report}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise HookstackError(f"load report {report} is not JSON: {exc}") from None
        if body_bytes is not None and isinstance(data, dict):
            data = {**data, "mean_body_bytes": body_bytes}
        estimate = estimate_cost(data, prices, config=config)
        title = f"Estimated AWS cost of {report.name}"
    else:
        assert rate is not None and seconds is not None
        estimate = estimate_for_plan(rate, seconds, prices=prices, config=config, body_bytes=body_bytes)
        title = f"Estimated AWS cost of {rate:g} rps for {seconds:g} s"
    console = Console()
    if as_json:
        console.print_json(estimate.model_dump_json())
        return
    render_estimate(estimate, console, title)
