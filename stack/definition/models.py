"""Typed pieces of the webhook-ingestion architecture.

Each model describes one kind of resource in provider-neutral terms; ``stack.definition.render`` turns a
``StackDefinition`` into one CloudFormation template. Logical ids are CamelCase names used both as
CloudFormation logical ids and as references between pieces.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from stack.definition.state_machines import StateMachine

LogicalId = str


class Table(BaseModel):
    logical_id: LogicalId
    hash_key: str = "id"
    ttl_attribute: str | None = None
    # A DynamoDB stream of the table's item changes, with what each record carries.
    stream: Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES"] | None = None


class Bucket(BaseModel):
    logical_id: LogicalId
    expire_after_days: int | None = None


class Queue(BaseModel):
    logical_id: LogicalId
    name: str
    fifo: bool = True
    visibility_timeout_seconds: int = 30
    retention_seconds: int = 4 * 24 * 3600
    dead_letter_queue: LogicalId | None = None
    max_receive_count: int | None = None
    # FIFO high-throughput mode: deduplication and the throughput quota per message group.
    high_throughput: bool = False

    @model_validator(mode="after")
    def _fifo_name(self) -> Queue:
        if self.fifo != self.name.endswith(".fifo"):
            raise ValueError(f"queue {self.name}: FIFO queues (and only they) end in .fifo")
        if self.high_throughput and not self.fifo:
            raise ValueError(f"queue {self.name}: high-throughput mode is a FIFO queue setting")
        if (self.dead_letter_queue is None) != (self.max_receive_count is None):
            raise ValueError(f"queue {self.name}: a redrive needs both a DLQ and maxReceiveCount")
        return self


Action = str


class Grant(BaseModel):
    """Least privilege: these actions on one resource of the stack (or a parameter path)."""

    actions: list[Action]
    resource: LogicalId | None = None  # a table, queue, bucket or topic of this stack
    object_prefix: str | None = None  # for buckets: grant on objects under this prefix
    parameter_path: str | None = None  # for SSM: grant on parameters under this path
    stream: bool = False  # for tables: grant on the table's stream instead of the table
    parameter: str | None = None  # for SSM: grant on this one parameter only

    @model_validator(mode="after")
    def _one_target(self) -> Grant:
        if sum(target is not None for target in (self.resource, self.parameter_path, self.parameter)) != 1:
            raise ValueError("a grant names exactly one of resource / parameter_path / parameter")
        return self


class Topic(BaseModel):
    """A standard SNS topic; its ``Ref`` is its ARN."""

    logical_id: LogicalId
    name: str


class TopicSubscription(BaseModel):
    """An SQS queue subscribed to a topic. Raw delivery: the queue message's body is the published
    message itself and its message attributes are the published ones (no SNS JSON envelope)."""

    logical_id: LogicalId
    topic: LogicalId
    queue: LogicalId
    raw_message_delivery: bool = True


class QueuePolicy(BaseModel):
    """The queue's resource policy: SNS may send to it, from these topics of the stack only."""

    logical_id: LogicalId
    queue: LogicalId
    publishing_topics: list[LogicalId] = Field(min_length=1)


class Function(BaseModel):
    logical_id: LogicalId
    name: str
    handler: str
    memory_mb: int = Field(256, ge=128, le=10240)
    timeout_seconds: int = Field(10, ge=1, le=900)
    environment: dict[str, str] = {}
    # Values resolved from other resources at deploy time: env var → (logical id, attribute).
    environment_refs: dict[str, tuple[LogicalId, Literal["Ref", "Arn", "QueueUrl"]]] = {}
    reserved_concurrency: int | None = Field(None, ge=0)
    grants: list[Grant] = []


class EventSourceMapping(BaseModel):
    logical_id: LogicalId
    queue: LogicalId
    function: LogicalId
    batch_size: int = Field(10, ge=1, le=10)
    report_batch_item_failures: bool = True
    maximum_concurrency: int = Field(2, ge=2, le=1000)


StreamEventName = Literal["INSERT", "MODIFY", "REMOVE"]


class StreamMapping(BaseModel):
    """A table's stream → a function, with Lambda's stream failure handling: a failing batch is
    retried (bisected on error) until ``maximum_retry_attempts`` or ``maximum_record_age_seconds``,
    then its records' metadata goes to ``on_failure_queue`` and the shard moves on."""

    logical_id: LogicalId
    table: LogicalId
    function: LogicalId
    batch_size: int = Field(100, ge=1, le=10000)
    starting_position: Literal["TRIM_HORIZON", "LATEST"] = "TRIM_HORIZON"
    # Only records with these event names reach the function (FilterCriteria); empty: all of them.
    event_names: list[StreamEventName] = []
    bisect_batch_on_function_error: bool = True
    maximum_retry_attempts: int = Field(ge=0, le=10000)  # Lambda's -1 (forever) is not offered
    maximum_record_age_seconds: int = Field(ge=60, le=604800)
    on_failure_queue: LogicalId
    report_batch_item_failures: bool = True


# EventBridge schedule expressions (UTC): rate(1 minute), rate(5 minutes), cron(0/5 8-17 ? * MON-FRI *).
SCHEDULE_EXPRESSION = r"^(rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)|cron\(\S+( \S+){5}\))$"


class Schedule(BaseModel):
    """An EventBridge rule that invokes a function on a schedule (UTC), with the permission to."""

    logical_id: LogicalId
    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")  # the rule's name
    expression: str = Field(pattern=SCHEDULE_EXPRESSION)
    function: LogicalId


class Authorizer(BaseModel):
    logical_id: LogicalId
    name: str
    function: LogicalId
    identity_header: str
    # Read the token from this query-string parameter instead of the header (providers that
    # deliver to a bare URL). Not both: API Gateway refuses a request missing any identity source.
    identity_query_parameter: str | None = None
    # Further identity sources (e.g. ``context.identity.sourceIp``): the cache key is all of them,
    # so an Allow cached for one caller is never reused for another that differs in any of them.
    extra_identity_sources: list[str] = []
    result_ttl_seconds: int = Field(300, ge=0, le=3600)

    @property
    def token_source(self) -> str:
        if self.identity_query_parameter:
            return f"method.request.querystring.{self.identity_query_parameter}"
        return f"method.request.header.{self.identity_header}"

    @property
    def identity_source(self) -> str:
        return ", ".join([self.token_source, *self.extra_identity_sources])


class RequestModel(BaseModel):
    """A JSON-schema body model bound to a method with a request validator: API Gateway answers
    ``400 {"message": "Invalid request body"}`` to a body that fails it, before any function runs."""

    name: str = Field(pattern=r"^[A-Za-z0-9]{1,64}$")  # API Gateway: alphanumeric model names
    json_schema: dict[str, Any]  # draft-04, the dialect API Gateway takes
    content_type: str = "application/json"


class Route(BaseModel):
    method: Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
    path: str = Field(pattern=r"^(/[A-Za-z0-9_.-]+|/\{[a-z_]+\})+$")
    function: LogicalId
    authorizer: LogicalId | None = None
    request_model: RequestModel | None = None
    # What the function answers, status → meaning (the API document lists these, and the
    # gateway's own answers beside them).
    responses: dict[int, str] = {}

    @property
    def path_parameters(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]


class Stage(BaseModel):
    name: str
    throttle_rate_limit: float = Field(gt=0)
    throttle_burst_limit: int = Field(ge=0)
    max_request_bytes: int = Field(gt=0, le=10 * 1024 * 1024)


class RestApi(BaseModel):
    logical_id: LogicalId
    name: str
    routes: list[Route]
    authorizers: list[Authorizer] = []
    stage: Stage
    binary_media_types: list[str] = []


class StackDefinition(BaseModel):
    description: str
    tables: list[Table] = []
    buckets: list[Bucket] = []
    queues: list[Queue] = []
    functions: list[Function] = []
    event_source_mappings: list[EventSourceMapping] = []
    stream_mappings: list[StreamMapping] = []
    schedules: list[Schedule] = []
    topics: list[Topic] = []
    subscriptions: list[TopicSubscription] = []
    queue_policies: list[QueuePolicy] = []
    state_machines: list[StateMachine] = []
    apis: list[RestApi] = []
    outputs: dict[str, tuple[LogicalId, Literal["Ref", "Arn", "QueueUrl"]]] = {}

    @model_validator(mode="after")
    def _references_resolve(self) -> StackDefinition:
        groups: tuple[list[Any], ...] = (
            self.tables,
            self.buckets,
            self.queues,
            self.functions,
            self.topics,
            self.state_machines,
        )
        known = {r.logical_id for group in groups for r in group}
        if len(known) != sum(len(group) for group in groups):
            raise ValueError("logical ids must be unique")
        refs: list[str] = []
        refs += [q.dead_letter_queue for q in self.queues if q.dead_letter_queue]
        refs += [g.resource for f in self.functions for g in f.grants if g.resource]
        refs += [ref for f in self.functions for ref, _ in f.environment_refs.values()]
        refs += [m.queue for m in self.event_source_mappings]
        refs += [m.function for m in self.event_source_mappings]
        refs += [ref for m in self.stream_mappings for ref in (m.table, m.function, m.on_failure_queue)]
        refs += [s.function for s in self.schedules]
        streamless = {m.table for m in self.stream_mappings} - {t.logical_id for t in self.tables if t.stream}
        if streamless:
            raise ValueError(f"stream mappings on tables without a stream: {sorted(streamless)}")
        refs += [ref for s in self.subscriptions for ref in (s.topic, s.queue)]
        refs += [ref for p in self.queue_policies for ref in (p.queue, *p.publishing_topics)]
        refs += [f for machine in self.state_machines for f in machine.task_functions()]
        for api in self.apis:
            refs += [r.function for r in api.routes] + [a.function for a in api.authorizers]
            names = {a.logical_id for a in api.authorizers}
            missing = {r.authorizer for r in api.routes if r.authorizer} - names
            if missing:
                raise ValueError(f"routes name unknown authorizers: {sorted(missing)}")
        refs += [ref for ref, _ in self.outputs.values() if ref not in {a.logical_id for a in self.apis}]
        unknown = set(refs) - known
        if unknown:
            raise ValueError(f"unknown logical ids referenced: {sorted(unknown)}")
        return self

    def function(self, logical_id: LogicalId) -> Function:
        return next(f for f in self.functions if f.logical_id == logical_id)
