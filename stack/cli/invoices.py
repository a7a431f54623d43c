"""`hookstack invoices`: the orchestration pattern's dead letters — list them, replay them."""

from __future__ import annotations

from typing import Annotated

import typer

from stack.cli.app import JsonOpt, StageOpt, TargetOpt, app, console, out, print_json
from stack.errors import UsageError

PATTERN = "orchestration"

invoices_app = typer.Typer(help="Dead-lettered invoices (orchestration pattern): list, replay.", no_args_is_help=True)
app.add_typer(invoices_app, name="invoices")


@invoices_app.command("list")
def invoices_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compensated invoices waiting in the invoice dead letters queue, with their reasons."""
    from stack.deploy.outputs import load_outputs
    from stack.ops.invoices import list_invoice_dead_letters

    found = load_outputs(target, stage)
    letters = list_invoice_dead_letters(
        found.client("sqs"), found.resource("InvoiceDeadLettersQueueUrl", PATTERN), limit
    )
    if as_json:
        print_json([letter.as_dict() for letter in letters])
        return
    for letter in letters:
        out.print(
            f"{letter.invoice_id}  round {letter.round}  {letter.reason}", soft_wrap=True, highlight=False, markup=False
        )
    console.print(f"{len(letters)} dead-lettered invoice(s) shown")


@invoices_app.command("replay")
def invoices_replay(
    ids: Annotated[list[str] | None, typer.Argument(help="invoice ids to replay")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="every dead-lettered invoice")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be replayed")] = False,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-submit dead-lettered invoices after a fix, each in a new round; never booked twice."""
    from handlers.invoices.store import InvoiceStore
    from stack.deploy.outputs import load_outputs
    from stack.ops.invoices import replay_invoices

    if replay_all == bool(ids):
        raise UsageError("say which invoices: their ids, or --all")
    found = load_outputs(target, stage)
    store = InvoiceStore(found.client("dynamodb"), found.resource("InvoicesTable", PATTERN))
    result = replay_invoices(
        found.client("sqs"),
        store,
        found.resource("InvoiceDeadLettersQueueUrl", PATTERN),
        found.resource("InvoicesQueueUrl", PATTERN),
        invoice_ids=None if replay_all else ids,
        dry_run=dry_run,
    )
    if as_json:
        print_json(result.as_dict())
        return
    verb = "would replay" if dry_run else "replayed"
    console.print(
        f"{verb} {len(result.replayed)}; stale (already moved on) {len(result.stale)}; "
        f"left {len(result.skipped)}; failed {len(result.errors)}"
    )
    for error in result.errors:
        console.print(f"  {error}", highlight=False, markup=False)
