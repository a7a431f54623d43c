"""A stage's schedules (EventBridge rules), and firing one now: its target function invoked with
the event a scheduled rule sends, instead of waiting for the rule's next tick.

The schedules are read from the stack definition (what ``hookstack up`` deployed), the rule's ARN
from EventBridge (so a rule that is not deployed is an error, not a guess). Firing is a
synchronous Invoke: the caller gets the function's answer (the trickle's run report).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from stack.config import HookstackConfig
from stack.definition.app import hookstack_stack
from stack.errors import HookstackError

# What EventBridge puts in a scheduled rule's event (its documented shape).
SCHEDULED_DETAIL_TYPE = "Scheduled Event"
SCHEDULED_SOURCE = "aws.events"
# The invocation may run for the function's timeout; the answer is awaited a little longer.
INVOKE_GRACE_SECONDS = 15


class ScheduleError(HookstackError):
    """A schedule that does not exist, or a firing that failed."""


@dataclass(frozen=True)
class StageSchedule:
    logical_id: str
    rule_name: str  # the deployed rule's name, also what `hookstack schedule fire` takes
    expression: str  # rate(...) or cron(...), UTC
    function_name: str  # the deployed target function
    function_timeout_s: int


@dataclass(frozen=True)
class FireResult:
    schedule: StageSchedule
    event: dict[str, Any]
    function_error: str | None
    answer: Any  # the function's JSON answer (or its error document)


def stage_schedules(config: HookstackConfig) -> list[StageSchedule]:
    definition = hookstack_stack(config)
    schedules = []
    for schedule in definition.schedules:
        function = definition.function(schedule.function)
        schedules.append(
            StageSchedule(
                logical_id=schedule.logical_id,
                rule_name=schedule.name,
                expression=schedule.expression,
                function_name=function.name,
                function_timeout_s=function.timeout_seconds,
            )
        )
    return schedules


def find_schedule(config: HookstackConfig, name: str) -> StageSchedule:
    """By rule name (``hookstack-dev-cdc-steady``) or the part after the stage (``cdc-steady``)."""
    schedules = stage_schedules(config)
    for schedule in schedules:
        if name in (schedule.rule_name, schedule.rule_name.removeprefix(config.resource_name(""))):
            return schedule
    known = ", ".join(s.rule_name for s in schedules) or "none (select a pattern with schedules, e.g. cdc)"
    raise ScheduleError(f"no schedule {name!r} on stage {config.stage} (schedules: {known})")


def scheduled_event(rule_arn: str, region: str, account: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The event EventBridge sends a scheduled rule's target."""
    moment = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": SCHEDULED_DETAIL_TYPE,
        "source": SCHEDULED_SOURCE,
        "account": account,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def fire(events: Any, lambda_client: Any, schedule: StageSchedule, region: str) -> FireResult:
    """Invoke the schedule's target once, now, with the rule's own event."""
    from botocore.exceptions import ClientError

    try:
        rule_arn = events.describe_rule(Name=schedule.rule_name)["Arn"]
    except ClientError as exc:
        raise ScheduleError(f"rule {schedule.rule_name} is not deployed on this target: {exc}") from None
    account = rule_arn.split(":")[4]
    event = scheduled_event(rule_arn, region, account)
    try:
        answer = lambda_client.invoke(
            FunctionName=schedule.function_name, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
    except ClientError as exc:
        raise ScheduleError(f"{schedule.function_name} could not be invoked: {exc}") from None
    payload = answer["Payload"].read()
    try:
        document = json.loads(payload) if payload else None
    except ValueError:
        document = payload.decode("utf-8", "replace")
    return FireResult(schedule, event, answer.get("FunctionError"), document)


def invoking_client(target: Any, schedule: StageSchedule) -> Any:
    """A Lambda client that waits out the function's timeout and never retries an invoke (a
    retried invoke would be a second run)."""
    from botocore.config import Config

    config = Config(
        read_timeout=schedule.function_timeout_s + INVOKE_GRACE_SECONDS,
        connect_timeout=5,
        retries={"total_max_attempts": 1},
    )
    return target.session().client("lambda", endpoint_url=target.endpoint_url, config=config)
