"""The `hookstack` Typer application, its consoles and the options every command shares."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from rich.console import Console

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


def hookstack_version() -> str:
    try:
        return version("hookstack")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(asked: bool) -> None:
    if asked:
        out.print(f"hookstack {hookstack_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="print the version and exit"),
    ] = False,
) -> None:
    """hookstack: webhook ingestion stack, local emulation and load-testing harness."""


TargetOpt = Annotated[str, typer.Option("--target", "-t", help="embedded | localstack | aws")]
StageOpt = Annotated[str | None, typer.Option("--stage", help="stage name (default from config)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
EndpointOpt = Annotated[str | None, typer.Option("--endpoint-url", help="emulator endpoint (localstack)")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="AWS named profile (aws)")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region")]
PatternOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--pattern",
        metavar="NAME",
        help="a pattern to deploy (repeatable; `all`; default: `patterns` in hookstack.toml)",
    ),
]


def progress(message: str) -> None:
    console.print(f"[dim]·[/dim] {message}")


def print_json(value: object) -> None:
    out.print_json(json.dumps(value, default=str))
