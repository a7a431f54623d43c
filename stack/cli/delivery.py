"""Talking to a deployed stack's API: send one signed delivery, read an event's status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stack.cli.app import JsonOpt, StageOpt, TargetOpt, app, out, print_json
from stack.clients import providers as client_providers
from stack.config import load_config
from stack.errors import HookstackError


def _client(target: str, stage: str | None):
    from stack.clients.webhook_client import ApiClient
    from stack.deploy.outputs import load_outputs, tenant_token

    found = load_outputs(target, stage)
    config = load_config(stage=found.stage)
    return found, ApiClient(found.api_url, tenant_token(found, config.tenants[0].name), config.token_placement)


@app.command()
def send(
    provider: Annotated[str, typer.Option(help=", ".join(client_providers.PROVIDERS))] = "shopify",
    topic: Annotated[
        str | None,
        typer.Option(
            help="topic / event type (default: the provider's own: "
            + ", ".join(f"{p.name} {p.default_topic}" for p in client_providers.REGISTRY.values())
            + ")"
        ),
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="JSON body to sign and send")] = None,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign a realistic sample delivery (or --file) and send it; print status, id and latency."""
    from stack.deploy.outputs import provider_secret

    try:
        sender = client_providers.get(provider)  # before any token or secret is looked up
    except client_providers.UnknownProvider as error:
        raise HookstackError(str(error)) from None
    found, client = _client(target, stage)
    body = file.read_bytes() if file else None
    delivery = sender.delivery(topic or sender.default_topic, provider_secret(found, provider), body=body)
    response = client.post_webhook(provider, delivery.body, delivery.headers)
    result = {"status": response.status, "latency_ms": round(response.latency_ms, 1), **response.json()}
    if as_json:
        print_json(result)
    else:
        colour = "green" if response.status == 202 else "red"
        out.print(
            f"[{colour}]{response.status}[/{colour}] {result.get('id', result.get('message', ''))} "
            f"{response.latency_ms:.1f} ms"
        )
    if response.status != 202:
        raise typer.Exit(1)


@app.command()
def status(event_id: str, target: TargetOpt = "embedded", stage: StageOpt = None, as_json: JsonOpt = False) -> None:
    """Show an event's status through the API (GET /events/{id})."""
    _, client = _client(target, stage)
    response = client.event_status(event_id)
    body = response.json()
    if as_json:
        print_json({"http_status": response.status, **body})
    else:
        out.print(f"{response.status} " + " ".join(f"{k}={v}" for k, v in body.items()))
    if response.status != 200:
        raise typer.Exit(1)
