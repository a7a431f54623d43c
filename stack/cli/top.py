"""`hookstack top`: a stage's queues, function environments and recent answers, refreshed every
second (``stack.ops.top`` builds each frame)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live

from stack.cli.app import StageOpt, TargetOpt, app, console, out
from stack.errors import UsageError

REFRESH_S = 1.0
STATS_TIMEOUT_S = 2.0


def _duration(option: str, text: str) -> float:
    from loadtests.model.params import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


@app.command("top")
def top(
    once: Annotated[bool, typer.Option("--once", help="print one frame and exit (scripts, CI)")] = False,
    watch_for: Annotated[str, typer.Option("--for", help="longest watch, as a duration (Ctrl-C stops sooner)")] = "1h",
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
) -> None:
    """A live view of a stage: queue and DLQ depth, in-flight messages, environments per function,
    recent ack latency, event-plane batches in flight."""
    from stack.deploy.outputs import load_outputs, outputs_path
    from stack.embedded.gateway.process import read_stats
    from stack.ops.top import read_frame, render

    limit_s = _duration("--for", watch_for)
    outputs = load_outputs(target, stage)  # no stack: the one-line error saying how to start one

    def frame() -> Group:
        return render(read_frame(outputs, read_stats=lambda url: read_stats(url, STATS_TIMEOUT_S), clock=time.time))

    if once or not out.is_terminal:
        out.print(frame(), crop=False)
        return
    state_file = outputs_path(outputs.target, outputs.stage)
    deadline = time.monotonic() + limit_s
    try:
        with Live(frame(), console=out, auto_refresh=False, transient=False) as live:
            while time.monotonic() < deadline:
                started = time.monotonic()
                if not state_file.exists():
                    break
                live.update(frame(), refresh=True)
                time.sleep(max(0.0, REFRESH_S - (time.monotonic() - started)))
    except KeyboardInterrupt:  # how a watch ends by hand: not a failure
        return
    if not state_file.exists():
        console.print(f"[dim]stage {outputs.stage} went down[/dim]")
