"""`hookstack forecast`: which AWS quotas a planned rate meets on the deployed stage (the arithmetic
is ``stack.ops.forecast``; the planned traffic comes from the load model, ``loadtests.report.forecast``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stack.cli.app import JsonOpt, app
from stack.errors import UsageError
from stack.ops.forecast import TABLE_HEADER, DeployedLimits, Forecast, load_quotas, table_rows

TABLE_WIDTH = 80


def render_forecast(result: Forecast, console: Console) -> None:
    table = Table(
        title=f"On AWS ({result.region}): {result.offered_rps:g} req/s for {result.duration_s:g} s",
        caption=f"default quotas as documented on {result.quotas_taken_on.isoformat()}",
    )
    for name in TABLE_HEADER:
        table.add_column(name, justify="left" if name == "limit" else "right")
    for check, row in zip(result.checks, table_rows(result), strict=True):
        table.add_row(*row, style="bold red" if check.hit else None)
    console.print(table)
    worker = result.worker
    drain = f"{worker.drain_after_s:,.0f} s to drain" if worker.drain_after_s is not None else "no backlog"
    console.print(
        f"worker: needs {worker.needed_concurrency:,.1f} concurrent batches, capped at {worker.concurrency_cap} "
        f"({worker.capped_by}); drains {worker.drain_events_per_s:,.0f} events/s; backlog at the end "
        f"{worker.backlog_at_end:,.0f} events, {drain}",
        highlight=False,
    )
    for check in result.limits_hit:
        console.print(f"- {check.limit}: {check.past_it}. Lift: {check.lift}.", markup=False, highlight=False)
    console.print("Assumptions:")
    for note in result.assumptions:
        console.print(f"  - {note}", markup=False, highlight=False)


@app.command()
def forecast(
    rate: Annotated[float, typer.Option(help="Offered webhook rate (req/s); the scenario's base rate.")],
    duration: Annotated[str, typer.Option(help="How long, as `hookstack load` takes it: 600, 600s, 10m, 1h.")],
    scenario: Annotated[
        str, typer.Option(help="Load scenario whose peak is forecast: steady, flash-sale, black-friday, retry-storm.")
    ] = "steady",
    peak: Annotated[float | None, typer.Option(help="Peak multiplier (default: the scenario's).")] = None,
    provider: Annotated[str, typer.Option(help="Provider whose traffic it is (its ordering keys, its timeout).")] = (
        "shopify"
    ),
    groups: Annotated[
        int | None,
        typer.Option(help="Ordering keys (message groups), as `hookstack load --groups` (default: samples)."),
    ] = None,
    hot_key_rate: Annotated[
        float | None, typer.Option(help="Events/s written to the busiest entity (one product in a flash sale).")
    ] = None,
    batch_ms: Annotated[
        float | None, typer.Option(help="The worker's duration per batch in ms (default: 100 ms per message).")
    ] = None,
    ack_p99_ms: Annotated[float | None, typer.Option(help="The ack p99 in ms, e.g. from a load report.")] = None,
    quotas_file: Annotated[
        Path | None, typer.Option("--quotas", help="Quotas file (default: the packaged documented defaults).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Forecast the AWS quotas a rate meets on the deployed stage: headroom, when each is hit, what lifts it."""
    from loadtests.model.params import LoadParams, parse_duration  # pure: no Locust import
    from loadtests.report.forecast import plan_traffic
    from stack.clients import providers as client_providers
    from stack.config import load_config
    from stack.ops.forecast import forecast as predict

    if provider not in client_providers.PROVIDERS:
        raise UsageError(f"--provider {provider!r}: choose one of {', '.join(client_providers.PROVIDERS)}")
    for name, value in (("--hot-key-rate", hot_key_rate), ("--batch-ms", batch_ms), ("--ack-p99-ms", ack_p99_ms)):
        if value is not None and not value >= 0:
            raise UsageError(f"{name} must be a number >= 0, got {value:g}")
    try:
        params = LoadParams(scenario=scenario, rate=rate, duration=parse_duration(duration), peak=peak, groups=groups)
    except ValueError as exc:  # a duration, rate, scenario or shape parameter that cannot be used
        raise UsageError(str(exc)) from None
    traffic = plan_traffic(
        params, [provider], hot_key_rate=hot_key_rate, worker_batch_ms=batch_ms or None, ack_p99_ms=ack_p99_ms
    )
    result = predict(DeployedLimits.from_hookstack(load_config()), traffic, load_quotas(quotas_file))
    console = Console(width=TABLE_WIDTH)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    render_forecast(result, console)
