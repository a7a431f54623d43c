"""`hookstack dlq`: inspect dead letters, fix and replay them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stack.cli.app import JsonOpt, StageOpt, TargetOpt, console, dlq_app, out, print_json


@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dead letters with their reasons (left in the DLQ)."""
    from stack.deploy.outputs import load_outputs
    from stack.ops.dlq import list_dead_letters

    found = load_outputs(target, stage)
    letters = list_dead_letters(found.client("sqs"), found.dlq_url, limit)
    if as_json:
        print_json([letter.as_dict() for letter in letters])
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
    from stack.deploy.outputs import load_outputs
    from stack.ops.dlq import show

    found = load_outputs(target, stage)
    print_json(show(found.client("sqs"), found.dlq_url, event_id).as_dict(include_body=True))


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
    from stack.deploy.outputs import load_outputs
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
        print_json(result.as_dict())
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
