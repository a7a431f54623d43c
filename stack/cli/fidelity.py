"""`hookstack fidelity`: which AWS behaviours hold on a target, and the embedded target's known
divergences (stack.fidelity). On the embedded target it checks the running stage's emulator."""

from __future__ import annotations

import textwrap
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError

from stack.cli.app import EndpointOpt, JsonOpt, ProfileOpt, RegionOpt, StageOpt, TargetOpt, app, out, print_json
from stack.deploy.targets import Target
from stack.errors import HookstackError, UsageError
from stack.fidelity.behaviour import AREAS
from stack.fidelity.divergences import divergences_bearing_on
from stack.fidelity.probe import Probe
from stack.fidelity.suite import SuiteReport, behaviours_in, run_suite

WIDTH = 80
ID_WIDTH = 44
CONFIRM_FLAG = "--i-understand-cost"  # the flag `hookstack load` asks for on a billed account


def fidelity_target(
    target: str, stage: str | None, endpoint_url: str | None, profile: str | None, region: str | None
) -> Target:
    """The target to check: the running stage's emulator on embedded, else the named one."""
    from stack.config import load_config
    from stack.deploy.outputs import load_outputs
    from stack.deploy.targets import make_target

    if target == "embedded":
        if endpoint_url:
            raise UsageError("--endpoint-url is for --target localstack; embedded checks the running stage's emulator")
        return load_outputs("embedded", stage).as_target()  # one line saying `hookstack up` if nothing runs
    chosen = make_target(
        target, config=load_config(stage=stage), endpoint_url=endpoint_url, profile=profile, region=region
    )
    chosen.check_reachable()
    return chosen


def check_answers(probe: Probe, target: Target) -> None:
    """One cheap call first, so an unreachable target is one line, not forty failed checks."""
    try:
        probe.sqs.list_queues(MaxResults=1)
    except (BotoCoreError, ClientError) as exc:
        where = target.endpoint_url or f"AWS {target.region}"
        raise HookstackError(f"{target.name}: SQS does not answer at {where} ({exc})") from None


def table_lines(report: SuiteReport) -> list[str]:
    """One row per behaviour; how it differs (or why it was not checked) wrapped below its row."""
    lines = [f"{'behaviour':<{ID_WIDTH}} result", "-" * WIDTH]
    for outcome in report.outcomes:
        lines.append(f"{outcome.behaviour.id:<{ID_WIDTH}} {outcome.verdict.value}")
        if outcome.how:
            lines += textwrap.wrap(outcome.how, WIDTH, initial_indent="    ", subsequent_indent="    ")
    lines.append("")
    for score in report.scores():
        unchecked = f", {score.total - score.checked} not checked" if score.checked < score.total else ""
        lines.append(f"{score.area}: {score.holds} of {score.total} hold{unchecked}")
    if report.left_behind:
        lines += textwrap.wrap(f"could not remove: {'; '.join(report.left_behind)}", WIDTH, subsequent_indent="    ")
    return lines


def divergence_lines(areas: set[str]) -> list[str]:
    lines = ["", "known divergences of the embedded target (stack/fidelity/divergences.py):"]
    for divergence in divergences_bearing_on(areas):
        head = f"- {divergence.id} [{', '.join(sorted(divergence.areas))}]: {divergence.differs}"
        lines += textwrap.wrap(head, WIDTH, subsequent_indent="  ")
        lines += textwrap.wrap(f"not fixed: {divergence.not_fixed}", WIDTH, initial_indent="  ", subsequent_indent="  ")
    return lines


@app.command()
def fidelity(
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    area: Annotated[str | None, typer.Option("--area", help=f"only one area: {' | '.join(AREAS)}")] = None,
    json_output: JsonOpt = False,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    i_understand_cost: Annotated[
        bool,
        typer.Option(CONFIRM_FLAG, help="Run on a billed AWS account (a few cents of SQS, Lambda, API Gateway calls)"),
    ] = False,
) -> None:
    """Check AWS behaviours (SQS FIFO, event source mapping, authorizer, API limits, Lambda errors) on a target and
    list the embedded target's known divergences."""
    if area is not None and area not in AREAS:
        raise UsageError(f"unknown area {area!r}: choose one of {', '.join(AREAS)}")
    if target == "aws" and not i_understand_cost:
        raise HookstackError(
            f"aws: the suite creates and deletes about 60 queues, sends a few hundred messages and deploys and "
            f"deletes a small CloudFormation stack (REST API, 4 functions, 2 queues) on a billed account; "
            f"pass {CONFIRM_FLAG} to run it"
        )
    chosen = fidelity_target(target, stage, endpoint_url, profile, region)
    probe = Probe(chosen.session(), chosen.endpoint_url, chosen.name)
    check_answers(probe, chosen)
    behaviours = behaviours_in([area] if area else None)
    if not behaviours:
        raise HookstackError(f"no behaviours are checked yet in area {area}")
    report = run_suite(probe, behaviours)
    areas = {area} if area else set(AREAS)
    if json_output:
        print_json(
            {
                "target": report.target,
                "outcomes": [o.as_json() for o in report.outcomes],
                "scores": [vars(s) for s in report.scores()],
                "divergences": [{**vars(d), "areas": sorted(d.areas)} for d in divergences_bearing_on(areas)],
                "left_behind": list(report.left_behind),
            }
        )
        return
    for line in [*table_lines(report), *divergence_lines(areas)]:
        out.print(line, soft_wrap=True, highlight=False, markup=False)
