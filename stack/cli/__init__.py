"""The `hookstack` command line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from stack.config import PROVIDERS, load_config
from stack.errors import HookstackError

app = typer.Typer(
    help="hookstack: webhook ingestion stack, local emulation and load-testing harness.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
secrets_app = typer.Typer(help="Tenant tokens and provider signing secrets (SSM SecureString).", no_args_is_help=True)
dlq_app = typer.Typer(help="Inspect the dead-letter queue and replay fixed events.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
app.add_typer(dlq_app, name="dlq")

console = Console(stderr=True)
out = Console()

TargetOpt = Annotated[str, typer.Option("--target", "-t", help="embedded | localstack | aws")]
StageOpt = Annotated[str | None, typer.Option("--stage", help="stage name (default from config)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint-url", help="emulator endpoint (localstack)")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS named profile (aws)")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region")]


def _progress(message: str) -> None:
    console.print(f"[dim]·[/dim] {message}")


def _print_json(value: object) -> None:
    out.print_json(json.dumps(value, default=str))


@app.command()
def synth(
    output: Annotated[Path | None, typer.Option("--out", "-o", help="file (default stdout)")] = None,
    bootstrap: Annotated[bool, typer.Option(help="the artifacts bootstrap stack instead")] = False,
    stage: StageOpt = None,
) -> None:
    """Write the CloudFormation template (JSON)."""
    from stack.definition.app import bootstrap_stack, hookstack_stack
    from stack.definition.render import render_template, template_json

    config = load_config(stage=stage)
    definition = bootstrap_stack(config) if bootstrap else hookstack_stack(config)
    text = template_json(render_template(definition, runtime=config.runtime, architecture=config.architecture))
    if output:
        output.write_text(text + "\n")
        console.print(f"wrote {output} ({len(text)} bytes)")
    else:
        sys.stdout.write(text + "\n")


def _outputs_table(outputs) -> Table:
    table = Table(show_header=False, box=None)
    for key, value in outputs.model_dump(mode="json").items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        table.add_row(f"[bold]{key}[/bold]", str(value))
    return table


@app.command()
def up(
    gateway: Annotated[
        str, typer.Option(help="hookstack (own data plane) | ministack (the emulator's API path)")
    ] = "hookstack",
    port: Annotated[int | None, typer.Option(help="emulator port (default: a free one)")] = None,
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the embedded emulator, deploy the stack, print the endpoint."""
    from stack.embedded.lifecycle import up as embedded_up

    result = embedded_up(load_config(stage=stage), gateway=gateway, port=port, progress=_progress)
    if as_json:
        _print_json({"outputs": result.outputs.model_dump(mode="json"), "seconds": round(result.total_s, 2)})
        return
    console.print(
        f"[green]up[/green] in {result.total_s:.1f}s (emulator {result.emulator_ready_s:.1f}s, "
        f"deploy {result.deployment.seconds:.1f}s, gateway {result.gateway_ready_s:.1f}s)"
    )
    out.print(f"endpoint: {result.outputs.api_url}")


@app.command()
def down(stage: StageOpt = None) -> None:
    """Stop the embedded emulator and data plane; remove their processes and temporary files."""
    from stack.embedded.lifecycle import down as embedded_down

    console.print("stopped" if embedded_down(load_config(stage=stage)) else "nothing was running")


def _target(target: str, config, endpoint_url: str | None, profile: str | None, region: str | None):
    from stack.deploy.targets import make_target

    if target == "embedded":
        raise HookstackError("the embedded target is deployed with `hookstack up`")
    return make_target(target, config=config, endpoint_url=endpoint_url, profile=profile, region=region)


@app.command()
def deploy(
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or update the stack on a target (embedded: same as `up`)."""
    from stack.deploy.cloudformation import deploy as run_deploy
    from stack.deploy.targets import build_dir, save_outputs
    from stack.embedded.lifecycle import outputs_from_stack

    config = load_config(stage=stage, region=region)
    if target == "embedded":
        up(gateway="hookstack", port=None, stage=stage, as_json=as_json)
        return
    where = _target(target, config, endpoint_url, profile, region)
    deployment = run_deploy(where, config, build_dir(), _progress)
    outs = deployment.app.outputs
    outputs = outputs_from_stack(
        where,
        config,
        outs,
        api_url=where.invoke_url(outs["ApiId"], config.stage, outs["ApiUrl"]),
        gateway=target,
        artifacts_bucket=deployment.bootstrap.outputs["ArtifactsBucket"],
    )
    save_outputs(outputs)
    if as_json:
        _print_json(outputs.model_dump(mode="json"))
    else:
        console.print(f"[green]deployed[/green] {config.stack_name} to {target} in {deployment.seconds:.1f}s")
        out.print(f"endpoint: {outputs.api_url}")


@app.command()
def destroy(
    target: TargetOpt = "aws",
    stage: StageOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Empty the buckets and delete the stacks (embedded: use `hookstack down`)."""
    from stack.deploy.cloudformation import destroy as run_destroy
    from stack.deploy.targets import forget_outputs

    config = load_config(stage=stage, region=region)
    where = _target(target, config, endpoint_url, profile, region)
    if not yes and not typer.confirm(f"delete {config.stack_name} and its data on {target}?"):
        raise typer.Exit(1)
    deleted = run_destroy(where, config, _progress)
    forget_outputs(target, config.stage)
    console.print(f"deleted: {', '.join(deleted) or 'nothing (no stack)'}")


@app.command()
def outputs(target: TargetOpt = "embedded", stage: StageOpt = None, as_json: JsonOpt = False) -> None:
    """Show the deployed stack's outputs."""
    from stack.deploy.targets import load_outputs

    found = load_outputs(target, stage)
    if as_json:
        _print_json(found.model_dump(mode="json"))
    else:
        out.print(_outputs_table(found))


@secrets_app.command("init")
def secrets_init(
    target: TargetOpt = "aws",
    stage: StageOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
) -> None:
    """Create missing tenant tokens and provider secrets with random values (never overwrites)."""
    from stack.deploy.secrets import ensure_secrets

    config = load_config(stage=stage, region=region)
    where = _target(target, config, endpoint_url, profile, region)
    created = ensure_secrets(where.client("ssm"), config, create=True)
    console.print(f"created: {', '.join(created) or 'nothing (all present)'}")


def _client(target: str, stage: str | None):
    from stack.clients.webhook_client import ApiClient
    from stack.deploy.targets import load_outputs, tenant_token

    found = load_outputs(target, stage)
    config = load_config(stage=found.stage)
    return found, ApiClient(found.api_url, tenant_token(found, config.tenants[0].name), config.token_placement)


@app.command()
def send(
    provider: Annotated[str, typer.Option(help=", ".join(PROVIDERS))] = "shopify",
    topic: Annotated[str, typer.Option(help="topic / event type")] = "orders/create",
    file: Annotated[Path | None, typer.Option("--file", help="JSON body to sign and send")] = None,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign a realistic sample delivery (or --file) and send it; print status, id and latency."""
    from stack.clients import deliveries
    from stack.deploy.targets import provider_secret

    found, client = _client(target, stage)
    body = file.read_bytes() if file else None
    secret = provider_secret(found, provider)
    if provider == "shopify":
        delivery = deliveries.shopify_delivery(topic, secret, body=body)
    elif provider == "stripe":
        delivery = deliveries.stripe_delivery(topic, secret, body=body)
    elif provider == "github":
        delivery = deliveries.github_delivery(topic, secret, body=body)
    else:
        raise HookstackError(f"unknown provider {provider!r}: choose one of {', '.join(PROVIDERS)}")
    response = client.post_webhook(provider, delivery.body, delivery.headers)
    result = {"status": response.status, "latency_ms": round(response.latency_ms, 1), **response.json()}
    if as_json:
        _print_json(result)
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
        _print_json({"http_status": response.status, **body})
    else:
        out.print(f"{response.status} " + " ".join(f"{k}={v}" for k, v in body.items()))
    if response.status != 200:
        raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dead letters with their reasons (left in the DLQ)."""
    from stack.deploy.targets import load_outputs
    from stack.ops.dlq import list_dead_letters

    found = load_outputs(target, stage)
    letters = list_dead_letters(found.client("sqs"), found.dlq_url, limit)
    if as_json:
        _print_json([letter.as_dict() for letter in letters])
        return
    table = Table("event id", "group", "kind", "reason", "replays", "topic")
    for letter in letters:
        table.add_row(
            letter.event_id or letter.message_id,
            letter.group,
            letter.kind or "?",
            letter.reason or "?",
            str(letter.replay_count),
            letter.topic or "?",
        )
    out.print(table)
    console.print(f"{len(letters)} dead letter(s) shown")


@dlq_app.command("show")
def dlq_show(event_id: str, target: TargetOpt = "embedded", stage: StageOpt = None) -> None:
    """One dead letter: reason, attributes and full body."""
    from stack.deploy.targets import load_outputs
    from stack.ops.dlq import show

    found = load_outputs(target, stage)
    _print_json(show(found.client("sqs"), found.dlq_url, event_id).as_dict(include_body=True))


@dlq_app.command("replay")
def dlq_replay(
    ids: Annotated[list[str] | None, typer.Option("--id", help="event id (repeatable)")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="every dead letter")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be replayed")] = False,
    body: Annotated[Path | None, typer.Option("--body", help="fixed body for the one --id")] = None,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-inject dead letters into the source queue (fresh dedup id; deleted from the DLQ only after)."""
    from stack.deploy.targets import load_outputs
    from stack.ops.dlq import replay

    found = load_outputs(target, stage)
    result = replay(
        found.client("sqs"),
        found.client("dynamodb"),
        found.events_table,
        found.queue_url,
        found.dlq_url,
        ids=ids,
        all=replay_all,
        dry_run=dry_run,
        body_override=body.read_bytes() if body else None,
    )
    if as_json:
        _print_json(result.as_dict())
    else:
        verb = "would replay" if dry_run else "replayed"
        count = result.would_replay if dry_run else result.replayed
        console.print(
            f"{verb} {count} of {result.matched} matched ({result.scanned} scanned); "
            f"failed {result.failed}, not found {len(result.not_found)}"
        )
        for error in result.errors:
            console.print(f"[red]{error}[/red]", highlight=False)
    if result.failed or result.not_found:
        raise typer.Exit(1)


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
    from stack.deploy.targets import hookstack_home, provider_secret, tenant_token
    from stack.embedded.emulator import Emulator
    from stack.embedded.lifecycle import down as embedded_down
    from stack.embedded.lifecycle import up as embedded_up
    from stack.ops import demo as burst

    config = load_config()
    # A stack the user already had up is left running, as found.
    keep = keep or Emulator(hookstack_home()).state() is not None
    result = embedded_up(config, gateway=gateway, progress=_progress)
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


def _register_commands() -> None:
    from chaos.cli import app as chaos_app
    from loadtests.cli import load as load_command
    from stack.ops.cost import cost as cost_command

    app.add_typer(chaos_app, name="chaos")
    app.command("cost")(cost_command)
    app.command("load", help="Offer a scenario's webhook traffic; exact latencies, drain, reports, gates.")(
        load_command
    )


_register_commands()


def main() -> None:
    try:
        app()
    except HookstackError as exc:
        console.print(Text.assemble(("error: ", "red"), str(exc)), soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        sys.exit(130)
