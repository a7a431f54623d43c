"""`hookstack dlq`: inspect dead letters, fix and replay them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stack.cli.app import JsonOpt, StageOpt, TargetOpt, console, dlq_app, out, print_json
from stack.errors import HookstackError, UsageError

if TYPE_CHECKING:
    from stack.ops.dlq import DeadLetter, ReplayResult


def dead_letter_lines(letters: list[DeadLetter]) -> list[str]:
    """Three lines per dead letter, the event id first and whole (it is what `show` and `replay
    --id` take); long values run on unbroken rather than being cut to a column."""
    lines = []
    for letter in letters:
        lines += [
            f"{letter.event_id or letter.message_id}  {letter.kind or '?'} · {letter.topic or '?'} · "
            f"replays {letter.replay_count}",
            f"  group   {letter.group}",
            f"  reason  {letter.reason or '?'}",
        ]
    return lines


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
    for line in dead_letter_lines(letters):
        out.print(line, soft_wrap=True, highlight=False, markup=False)
    console.print(f"{len(letters)} dead letter(s) shown")


@dlq_app.command("show")
def dlq_show(event_id: str, target: TargetOpt = "embedded", stage: StageOpt = None) -> None:
    """One dead letter: reason, attributes and full body."""
    from stack.deploy.outputs import load_outputs
    from stack.ops.dlq import show

    found = load_outputs(target, stage)
    print_json(show(found.client("sqs"), found.dlq_url, event_id).as_dict(include_body=True))


def _read_body(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise HookstackError(f"--body {path}: {exc.strerror or exc}") from None


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

    # Checked here, in the command's own terms, before any stack is looked up.
    if replay_all == bool(ids):
        raise UsageError("say which dead letters: --id EVENT_ID (repeatable) or --all")
    if body is not None and (replay_all or len(ids or []) != 1):
        raise UsageError("--body replaces the body of exactly one event: give one --id")
    fixed_body = _read_body(body) if body is not None else None
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
        body_override=fixed_body,
    )
    report_replay(result, dry_run=dry_run, as_json=as_json)


def report_replay(result: ReplayResult, *, dry_run: bool, as_json: bool) -> None:
    """What a DLQ replay did (webhooks' dead letters, dead callbacks), and exit 1 when any failed."""
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
