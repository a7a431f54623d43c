"""Talking to a deployed stack's API: send one signed delivery, read (or wait for) an event's status."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from stack.cli.app import JsonOpt, StageOpt, TargetOpt, app, out, print_json
from stack.clients import providers as client_providers
from stack.clients.events import is_terminal
from stack.clients.providers.base import ClientProvider, Delivery
from stack.clients.webhook_client import ApiClient, Response
from stack.config import load_config
from stack.errors import HookstackError

STATUS_POLL_S = 0.5


def _client(target: str, stage: str | None) -> tuple[Any, ApiClient]:
    from stack.deploy.outputs import load_outputs, tenant_token

    found = load_outputs(target, stage)
    config = load_config(stage=found.stage)
    return found, ApiClient(found.api_url, tenant_token(found, config.tenants[0].name), config.token_placement)


def _read_body(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise HookstackError(f"--file {file}: {exc.strerror or exc}") from None


def build_delivery(
    sender: ClientProvider,
    topic: str,
    secret: str,
    *,
    body: bytes | None = None,
    invalid: bool = False,
    delivery_id: str | None = None,
) -> Delivery:
    """The delivery `send` posts: a realistic sample, ``body`` as given, or (``invalid``) a body
    the stack accepts but no worker model does, so it is dead-lettered at once."""
    if invalid:
        sample = sender.delivery(topic, secret, delivery_id=delivery_id)
        poison = sender.poison_body(json.loads(sample.body), sample.group_key or sender.sample_group_keys[0])
        delivery = sender.delivery(topic, secret, delivery_id=delivery_id, body=poison, group_key=sample.group_key)
    else:
        delivery = sender.delivery(topic, secret, delivery_id=delivery_id, body=body)
    if delivery_id is not None and delivery.delivery_id != delivery_id:
        raise HookstackError(
            f"--delivery-id: {sender.name} carries the delivery id in the body: put {delivery_id!r} there in --file"
        )
    return delivery


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
    invalid: Annotated[
        bool, typer.Option("--invalid", help="a schema-invalid body: accepted (202), then dead-lettered by the worker")
    ] = False,
    delivery_id: Annotated[
        str | None,
        typer.Option(
            "--delivery-id", help="the provider's delivery id (default: a new one); repeat one to see it deduplicated"
        ),
    ] = None,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign a realistic sample delivery (or --file, or --invalid) and send it; print status, ids and latency."""
    from stack.deploy.outputs import provider_secret

    try:
        sender = client_providers.get(provider)  # before any file, token or secret is looked up
    except client_providers.UnknownProvider as error:
        raise HookstackError(str(error)) from None
    if file is not None and invalid:
        raise HookstackError("give either --file or --invalid, not both")
    body = _read_body(file) if file is not None else None
    found, client = _client(target, stage)
    delivery = build_delivery(
        sender,
        topic or sender.default_topic,
        provider_secret(found, provider),
        body=body,
        invalid=invalid,
        delivery_id=delivery_id,
    )
    response = client.post_webhook(provider, delivery.body, delivery.headers)
    answer = response.json()
    result = {
        "status": response.status,
        "latency_ms": round(response.latency_ms, 1),
        "delivery_id": delivery.delivery_id,
        "topic": delivery.topic,
        **answer,
    }
    if as_json:
        print_json(result)
    else:
        colour = "green" if response.status == 202 else "red"
        out.print(
            f"[{colour}]{response.status}[/{colour}] {answer.get('id', answer.get('message', ''))} "
            f"{response.latency_ms:.1f} ms",
            soft_wrap=True,
            highlight=False,
        )
        out.print(
            f"{delivery.topic} delivery {delivery.delivery_id} (repeat it: --delivery-id {delivery.delivery_id})",
            soft_wrap=True,
            highlight=False,
        )
    if response.status != 202:
        raise typer.Exit(1)


def wait_for_final_status(
    client: ApiClient,
    event_id: str,
    timeout_s: float,
    *,
    poll_s: float = STATUS_POLL_S,
    clock: Any = time.monotonic,
    sleep: Any = time.sleep,
) -> tuple[Response, bool]:
    """Poll ``GET /events/{id}`` until the event is PROCESSED or DEAD_LETTERED, for at most
    ``timeout_s`` (and at most one read per ``poll_s``): the last answer, and whether it is final.
    An answer other than 200 (an unknown id) ends the wait at once."""
    deadline = clock() + timeout_s
    for _ in range(int(timeout_s / max(poll_s, 0.01)) + 2):  # bounded in count as well as in time
        response = client.event_status(event_id)
        if response.status != 200:  # the producer records an event before its 202: unknown stays unknown
            return response, False
        if is_terminal(response.json()):
            return response, True
        if clock() >= deadline:
            break
        sleep(min(poll_s, max(0.0, deadline - clock())))
    return response, False


def _status_lines(http_status: int, body: dict[str, Any]) -> list[str]:
    if http_status != 200:
        return [f"{http_status} {body.get('message', '')}".rstrip()]
    lines = [f"{body.get('id')} {body.get('status')} ({body.get('provider')} {body.get('topic')})"]
    lines.append(
        f"  attempts {body.get('attempts', 0)} · deliveries {body.get('deliveries', 0)} · "
        f"replays {body.get('replay_count', 0)}"
    )
    for name, moment in (body.get("timestamps") or {}).items():
        lines.append(f"  {name:<17} {moment.get('iso', moment) if isinstance(moment, dict) else moment}")
    if body.get("reason"):
        lines.append(f"  reason: {body['reason']} ({body.get('dead_letter_kind') or '?'})")
    return lines


@app.command()
def status(
    event_id: str,
    wait: Annotated[bool, typer.Option("--wait", help="poll until the event is PROCESSED or DEAD_LETTERED")] = False,
    timeout: Annotated[float, typer.Option(min=0.1, max=3600, help="with --wait: the longest wait, in seconds")] = 60.0,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an event's status through the API (GET /events/{id}); --wait for its final status."""
    _, client = _client(target, stage)
    final = True
    if wait:
        response, final = wait_for_final_status(client, event_id, timeout)
    else:
        response = client.event_status(event_id)
    body = response.json()
    if as_json:
        print_json({"http_status": response.status, **body})
    else:
        for line in _status_lines(response.status, body):
            out.print(line, soft_wrap=True, highlight=False, markup=False)
    if response.status != 200:
        raise typer.Exit(1)
    if not final:
        raise HookstackError(f"{event_id} is still {body.get('status')} after {timeout:g} s")
