"""`hookstack schedule list | fire NAME`: a stage's schedules (EventBridge rules), and one fired
now — its target invoked with the event the rule sends — instead of waiting for its tick (the
embedded emulator fires rules up to ~10 s late and has no on-demand trigger)."""

from __future__ import annotations

from typing import Annotated

import typer

from stack.cli.app import JsonOpt, StageOpt, TargetOpt, app, console, out, print_json

schedule_app = typer.Typer(help="A stage's schedules: list them, fire one now.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


def _stage(target: str, stage: str | None):
    from stack.config import load_config
    from stack.deploy.outputs import load_outputs

    found = load_outputs(target, stage)
    return found, load_config(stage=found.stage, patterns=found.patterns)


@schedule_app.command("list")
def schedule_list(target: TargetOpt = "embedded", stage: StageOpt = None, as_json: JsonOpt = False) -> None:
    """The stage's schedules: rule, expression (UTC), target function."""
    from stack.ops.schedules import stage_schedules

    _, config = _stage(target, stage)
    schedules = stage_schedules(config)
    if as_json:
        print_json([{"rule": s.rule_name, "expression": s.expression, "function": s.function_name} for s in schedules])
        return
    for schedule in schedules:
        out.print(
            f"{schedule.rule_name}  {schedule.expression}  → {schedule.function_name}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    console.print(f"{len(schedules)} schedule(s)")


@schedule_app.command("fire")
def schedule_fire(
    name: Annotated[str, typer.Argument(help="the rule's name, or the part after the stage: cdc-steady")],
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="aws: do not ask before invoking")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Invoke the schedule's target now with the event the rule sends ("Scheduled Event",
    aws.events) and print its answer. On aws it is a real invocation of a real function (and
    whatever it calls): asked first, unless --yes."""
    from stack.errors import HookstackError
    from stack.ops.schedules import find_schedule, fire, invoking_client

    found, config = _stage(target, stage)
    schedule = find_schedule(config, name)
    if target == "aws" and not yes:
        question = f"invoke {schedule.function_name} on aws now (billed, and it calls what it calls)?"
        if not typer.confirm(question):
            raise typer.Exit(1)
    where = found.as_target()
    result = fire(where.client("events"), invoking_client(where, schedule), schedule, found.region)
    if as_json:
        print_json({"rule": schedule.rule_name, "function_error": result.function_error, "answer": result.answer})
    else:
        console.print(f"fired {schedule.rule_name} → {schedule.function_name}", highlight=False)
        print_json(result.answer)
    if result.function_error:
        raise HookstackError(f"{schedule.function_name} failed ({result.function_error}): see its answer above")
