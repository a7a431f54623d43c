"""The `hookstack` command line: the composition root. The only code of ``stack`` that imports
``loadtests`` and ``chaos``, and the one place where an error becomes one line and an exit code."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from rich.text import Text

from stack.cli import edge
from stack.cli.app import app, console

# Each module registers its commands on import; this order is the order of `hookstack --help`.
COMMAND_MODULES = (
    "stack.cli.lifecycle",
    "stack.cli.patterns",
    "stack.cli.delivery",
    "stack.cli.env",
    "stack.cli.aws",
    "stack.cli.demo",
    "stack.cli.partner",
    "stack.cli.report",
    "stack.cli.logs",
    "stack.cli.top",
    "stack.cli.forecast",
    "stack.cli.fidelity",
    "stack.cli.consumer",
    "stack.cli.subscribe",
    "stack.cli.invoices",
    "stack.cli.schedule",
)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name)
    from chaos.cli import app as chaos_app
    from loadtests.cli import load as load_command
    from stack.cli.cost import cost as cost_command

    app.add_typer(chaos_app, name="chaos")
    app.command("cost")(cost_command)
    app.command("load", help="Offer a scenario's webhook traffic; exact latencies, drain, reports, gates.")(
        load_command
    )
    importlib.import_module("stack.cli.dlq")


_register_commands()


def _without_flag_placeholders(command: Any) -> None:
    """A flag takes no value: show none in --help (Typer would print ``--json <bool>``). Typer's
    own copy of click builds the tree, so its classes are not ``click``'s: read them by attribute."""
    for param in command.get_params(command.context_class(command)):  # includes the (cached) --help
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _without_flag_placeholders(sub)


def command_line() -> Any:
    """The `hookstack` command tree, as `main` runs it."""
    command = typer.main.get_command(app)
    _without_flag_placeholders(command)
    return command


def main() -> None:
    try:
        # Not standalone: a usage error reaches the edge below (one line) instead of Typer's box.
        code = command_line()(prog_name="hookstack", standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        console.print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except Exception as exc:  # the edge: every error ends here as one line (see stack.cli.edge)
        line = edge.error_line(exc)
        if line is None and edge.debugging():
            raise
        console.print(Text.assemble(("error: ", "red"), line or edge.bug_line(exc)), soft_wrap=True, highlight=False)
        sys.exit(edge.exit_code(exc))
    if isinstance(code, int) and code:  # typer.Exit(n) in a command, or Ctrl-C turned into 130
        if code == 130:
            console.print("[yellow]interrupted[/yellow]")
        sys.exit(code)
