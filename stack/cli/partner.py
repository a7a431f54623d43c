"""`hookstack partner`: the partner simulator in the foreground (callback endpoints, accounting,
payments, a rate-limited CDC API), one line per request it receives; Ctrl-C stops it."""

from __future__ import annotations

from typing import Annotated

import typer

from stack.cli.app import app, console, out
from stack.errors import UsageError
from stack.partner.callbacks import parse_callback_secret
from stack.partner.faults import startup_faults
from stack.partner.server import PartnerOptions, RequestLine, run


@app.command()
def partner(
    port: Annotated[int, typer.Option("--port", metavar="N", help="port on 127.0.0.1 (0: a free one)")] = 0,
    callback_secret: Annotated[
        list[str] | None,
        typer.Option(
            "--callback-secret",
            metavar="TENANT=SECRET",
            help="a tenant's whsec_ secret: its callbacks are verified with it (repeatable)",
        ),
    ] = None,
    latency_ms: Annotated[
        int, typer.Option("--latency-ms", metavar="N", help="added to every answer of every API")
    ] = 0,
    error_rate: Annotated[
        float, typer.Option("--error-rate", metavar="F", help="share of requests failed 503, 0 to 1")
    ] = 0.0,
    rate_limit: Annotated[
        float | None, typer.Option("--rate-limit", metavar="N", help="trickle API: requests per second, 429 beyond")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no line per request")] = False,
) -> None:
    """Run the partner simulator: tenants' callback endpoints (Standard Webhooks verified), an
    accounting API, a payment API and a rate-limited CDC API, with faults set at run time through
    /_partner/faults (docs/partner-simulator.md)."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: expected 0 to 65535")
    secrets = dict(parse_callback_secret(text) for text in callback_secret or [])
    faults = startup_faults(latency_ms=latency_ms, error_rate=error_rate, rate_limit_per_s=rate_limit)
    options = PartnerOptions(port=port, callback_secrets=secrets, faults=faults)

    def listening(url: str) -> None:
        tenants = ", ".join(sorted(secrets)) or "none yet (PUT /_partner/callback-secrets/{tenant})"
        limit = f"{rate_limit:g}/s" if rate_limit is not None else "none"
        console.print(f"partner simulator at [bold]{url}[/bold] · Ctrl-C stops it", highlight=False, soft_wrap=True)
        for line in (
            f"callbacks   POST {url}/callbacks/{{tenant}}   secrets for: {tenants}",
            f"accounting  POST {url}/accounting/invoices   (Idempotency-Key)",
            f"payments    POST {url}/payments/charges · {url}/payments/refunds",
            f"trickle     POST {url}/trickle/...   rate limit: {limit}",
            f"control     {url}/_partner/health · records/{{api}} · faults · reset",
        ):
            console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)

    def observe(line: RequestLine) -> None:
        out.print(line.describe(), highlight=False, markup=False, soft_wrap=True)

    run(options, None if quiet else observe, listening)
    console.print("partner simulator stopped")
