"""What a pattern is: a selectable part of the one stack definition.

A pattern contributes its own tables, buckets, queues, functions, event source mappings, routes
and outputs; :func:`stack.definition.app.hookstack_stack` joins the selected ones with the
platform every pattern shares (the REST API, its stage and the tenant authorizer). A pattern
never branches on another: what it needs from the platform it gets as a :class:`Platform`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from stack.config import HookstackConfig
from stack.definition.models import (
    Bucket,
    EventSourceMapping,
    Function,
    Grant,
    LogicalId,
    Queue,
    QueuePolicy,
    Route,
    Schedule,
    StreamMapping,
    Table,
    Topic,
    TopicSubscription,
)
from stack.definition.state_machines import StateMachine

# AWS advises a source-queue visibility timeout of at least six times the function timeout.
VISIBILITY_TIMEOUT_FACTOR = 6

OutputRef = tuple[LogicalId, Literal["Ref", "Arn", "QueueUrl"]]


@dataclass(frozen=True)
class Platform:
    """The shared pieces a pattern's routes and functions attach to."""

    authorizer: LogicalId
    # The topic final job statuses are published to, when the notifications pattern is selected.
    notifications_topic: LogicalId | None = None


@dataclass
class PatternParts:
    tables: list[Table] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)
    queues: list[Queue] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)
    event_source_mappings: list[EventSourceMapping] = field(default_factory=list)
    stream_mappings: list[StreamMapping] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    subscriptions: list[TopicSubscription] = field(default_factory=list)
    queue_policies: list[QueuePolicy] = field(default_factory=list)
    state_machines: list[StateMachine] = field(default_factory=list)
    outputs: dict[str, OutputRef] = field(default_factory=dict)


class Pattern(ABC):
    name: ClassVar[str]
    summary: ClassVar[str]  # one line, for `hookstack patterns`

    @abstractmethod
    def parts(self, config: HookstackConfig, platform: Platform) -> PatternParts:
        """This pattern's resources for one stage."""


def function_environment(config: HookstackConfig, function: str) -> dict[str, str]:
    """What every function of every pattern gets: its service name and log level."""
    return {
        "POWERTOOLS_SERVICE_NAME": f"{config.project}-{function}",
        "POWERTOOLS_LOG_LEVEL": config.log_level,
    }


def fault_injection(config: HookstackConfig) -> tuple[dict[str, str], list[Grant]]:
    """Chaos drills switch faults at run time through one SSM parameter the handlers poll."""
    if not config.fault_injection:
        return {}, []
    env = {"FAULTS_PARAMETER": config.faults_parameter, "FAULTS_CACHE_SECONDS": str(config.faults_cache_seconds)}
    return env, [Grant(actions=["ssm:GetParameter"], parameter_path=config.faults_parameter)]


def output_name(function_logical_id: LogicalId) -> str:
    """The stack output naming a function: ``WorkerFunction`` → ``WorkerFunctionName``."""
    return f"{function_logical_id}Name"
