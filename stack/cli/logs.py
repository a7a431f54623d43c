"""`hookstack logs FUNCTION`: a function's log, on the embedded target (kept after `down`) or from
CloudWatch Logs (localstack, aws)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from stack.cli.app import StageOpt, TargetOpt, app, console
from stack.errors import HookstackError, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable

# Without --since, CloudWatch is read this far back (its log groups keep weeks).
CLOUDWATCH_DEFAULT_SINCE_S = 600.0


def _seconds(option: str, text: str) -> float:
    from loadtests.model.params import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _pick(function: str, names: dict[str, str]) -> str:
    """The short name of ``function``, given short (worker) or deployed."""
    if function in names:
        return function
    deployed = {name: short for short, name in names.items()}
    if function in deployed:
        return deployed[function]
    raise UsageError(f"unknown function {function!r}: choose one of {', '.join(sorted(names))}")


def _print(lines: Iterable[str]) -> None:
    for line in lines:
        print(line, flush=True)  # as written: no markup, no wrapping, pipes to grep and jq


@app.command("logs")
def logs(
    function: Annotated[
        str, typer.Argument(help="a function of the stage: worker, producer, … (or its deployed name)")
    ],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="print new lines as they come (Ctrl-C stops)")] = False,
    since: Annotated[
        str | None, typer.Option(help="only lines from this long ago on: 10m, 1h (CloudWatch: default 10m)")
    ] = None,
    follow_for: Annotated[str, typer.Option("--for", help="longest follow, as a duration")] = "1h",
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
) -> None:
    """A function's log; on the embedded target also after `hookstack down` (until the next `up`)."""
    since_s = _seconds("--since", since) if since is not None else None
    limit_s = _seconds("--for", follow_for)
    try:
        if target == "embedded":
            _embedded(function, stage, since_s, follow, limit_s)
        else:
            _cloudwatch(function, target, stage, since_s, follow, limit_s)
    except KeyboardInterrupt:  # how a follow ends by hand: not a failure
        return


def _embedded(function: str, stage: str | None, since_s: float | None, follow: bool, limit_s: float) -> None:
    from stack.config import load_config
    from stack.deploy.outputs import outputs_path
    from stack.embedded.function_logs import logs_dir, read_manifest
    from stack.home import hookstack_home
    from stack.ops.logs import follow_log, read_log

    stage_name = load_config(stage=stage).stage
    home = hookstack_home()
    found = read_manifest(home, stage_name)
    if found is None:
        raise HookstackError(
            f"no function logs of stage {stage_name!r} in {logs_dir(home, stage_name)}: `hookstack up` first"
        )
    short = _pick(function, found.function_names)
    if not found.runs_here(short):
        raise HookstackError(
            f"{short}: the emulator runs it on this stage (gateway {found.gateway}, event plane "
            f"{found.event_plane}), so hookstack keeps no log of it: not supported on this target configuration"
        )
    path = found.path(short)
    lines, offset = read_log(path, time.time() - since_s if since_s is not None else None)
    _print(lines)
    if not follow:
        return
    outputs_file = outputs_path("embedded", stage_name)
    if not outputs_file.exists():
        console.print(f"[dim]stage {stage_name} is down: nothing to follow[/dim]")
        return
    _print(follow_log(path, offset, keep_going=outputs_file.exists, deadline=time.monotonic() + limit_s))
    if not outputs_file.exists():
        console.print(f"[dim]stage {stage_name} went down[/dim]")


def _cloudwatch(
    function: str, target: str, stage: str | None, since_s: float | None, follow: bool, limit_s: float
) -> None:
    from stack.deploy.outputs import load_outputs
    from stack.ops.logs import cloudwatch_lines, follow_cloudwatch

    outputs = load_outputs(target, stage)
    name = outputs.function_names[_pick(function, outputs.function_names)]
    client = outputs.client("logs")
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - int(1000 * (since_s if since_s is not None else CLOUDWATCH_DEFAULT_SINCE_S))
    try:
        _print(message for _, message in cloudwatch_lines(client, name, start_ms, now_ms))
    except client.exceptions.ResourceNotFoundException:
        console.print(f"[dim]{name} has not logged yet (no log group)[/dim]")
    if follow:
        _print(follow_cloudwatch(client, name, now_ms, deadline=time.monotonic() + limit_s))
