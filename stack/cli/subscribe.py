"""`hookstack subscribe` / `subscriptions` (a tenant's signed callbacks) and `hookstack callbacks`
(the callbacks that failed every attempt: list, replay). See docs/notifications.md."""

from __future__ import annotations

from typing import Annotated

import typer

from stack.cli.app import JsonOpt, StageOpt, TargetOpt, app, console, out, print_json
from stack.config import load_config
from stack.errors import UsageError

callbacks_app = typer.Typer(help="Callbacks that failed every attempt: list and replay them.", no_args_is_help=True)
app.add_typer(callbacks_app, name="callbacks")

NOTIFICATIONS = "notifications"


@app.command("subscribe")
def subscribe_command(
    tenant: Annotated[str, typer.Option("--tenant", help="the tenant whose callbacks these are")],
    url: Annotated[str | None, typer.Option("--url", help="https:// (http:// only to 127.0.0.1/localhost)")] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", help="whsec_… signing secret (default: a new one, printed once)")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="remove the tenant's subscription")] = False,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
) -> None:
    """Send a tenant's job completions to URL as signed Standard Webhooks callbacks (or --remove)."""
    from stack.deploy.outputs import load_outputs
    from stack.ops.subscriptions import checked_secret, checked_tenant, checked_url, subscribe, unsubscribe

    # Checked in the command's own terms before any stack is looked up.
    if remove == (url is not None):
        raise UsageError("say what to do: --url URL to subscribe, or --remove")
    if remove and secret is not None:
        raise UsageError("--secret goes with --url, not --remove")
    config = load_config(stage=stage)
    checked_tenant(config, tenant)
    if url is not None:
        checked_url(url)
    if secret is not None:
        checked_secret(secret)
    found = load_outputs(target, config.stage)
    ssm = found.client("ssm")
    if remove:
        existed = unsubscribe(ssm, config, tenant)
        console.print(f"tenant {tenant}: {'subscription removed' if existed else 'had no subscription'}")
        return
    assert url is not None
    done = subscribe(ssm, config, tenant, url, secret)
    console.print(f"tenant {tenant}: callbacks go to {url}", highlight=False, soft_wrap=True)
    if done.generated_secret is not None:
        console.print("signing secret (shown this once; verify callbacks with it):")
        out.print(done.generated_secret, highlight=False, markup=False, soft_wrap=True)


@app.command("subscriptions")
def subscriptions_command(target: TargetOpt = "embedded", stage: StageOpt = None, as_json: JsonOpt = False) -> None:
    """Tenants' callback URLs (never their secrets)."""
    from stack.deploy.outputs import load_outputs
    from stack.ops.subscriptions import list_subscriptions

    config = load_config(stage=stage)
    found = load_outputs(target, config.stage)
    subscriptions = list_subscriptions(found.client("ssm"), config)
    if as_json:
        print_json([s.as_dict() for s in subscriptions])
        return
    width = max((len(s.tenant) for s in subscriptions), default=0)
    for subscription in subscriptions:
        out.print(f"{subscription.tenant:<{width}}  {subscription.url}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"{len(subscriptions)} subscription(s)")


@callbacks_app.command("list")
def callbacks_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Callbacks in the callback DLQ (left there)."""
    from stack.deploy.outputs import load_outputs
    from stack.ops.callbacks import list_dead_callbacks

    found = load_outputs(target, stage)
    dead = list_dead_callbacks(found.client("sqs"), found.resource("CallbackDlqUrl", NOTIFICATIONS), limit)
    if as_json:
        print_json([callback.as_dict() for callback in dead])
        return
    for callback in dead:
        where = f"tenant {callback.tenant or '?'} · {callback.attempts} attempts"
        line = f"{callback.event_id or callback.message_id}  {where}"
        out.print(line, highlight=False, markup=False, soft_wrap=True)
        out.print(f"  body  {callback.body_preview}", highlight=False, markup=False, soft_wrap=True)
    console.print(f"{len(dead)} dead callback(s) shown")


@callbacks_app.command("replay")
def callbacks_replay(
    ids: Annotated[list[str] | None, typer.Argument(help="event ids (webhook-id) to replay")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="every dead callback")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be replayed")] = False,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send dead callbacks again: back to the callback queue (deleted from the DLQ only after)."""
    from stack.cli.dlq import report_replay
    from stack.deploy.outputs import load_outputs
    from stack.ops.callbacks import replay_callbacks

    if replay_all == bool(ids):
        raise UsageError("say which callbacks: event ids, or --all")
    found = load_outputs(target, stage)
    result = replay_callbacks(
        found.client("sqs"),
        found.resource("CallbackQueueUrl", NOTIFICATIONS),
        found.resource("CallbackDlqUrl", NOTIFICATIONS),
        ids=ids,
        all=replay_all,
        dry_run=dry_run,
    )
    report_replay(result, dry_run=dry_run, as_json=as_json)
