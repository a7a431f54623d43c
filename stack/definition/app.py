"""hookstack's own stack, declared once from the typed models; every target deploys this."""

from __future__ import annotations

import json

from stack.config import PROVIDERS, HookstackConfig
from stack.definition.models import (
    Authorizer,
    Bucket,
    EventSourceMapping,
    Function,
    Grant,
    Queue,
    RestApi,
    Route,
    StackDefinition,
    Stage,
    Table,
)

# AWS advises a source-queue visibility timeout of at least six times the function timeout.
VISIBILITY_TIMEOUT_FACTOR = 6


def _handler(config: HookstackConfig, function: str) -> str:
    if config.handler_set == "baseline-status" and function == "producer":
        return "handlers.baseline.producer_recording_status_handler"
    if config.handler_set in ("baseline", "baseline-status"):
        return f"handlers.baseline.{function}_handler"
    return f"handlers.{function}.handler"


def _common_env(config: HookstackConfig, function: str) -> dict[str, str]:
    return {
        "POWERTOOLS_SERVICE_NAME": f"{config.project}-{function}",
        "POWERTOOLS_LOG_LEVEL": config.log_level,
    }


def _fault_injection(config: HookstackConfig) -> tuple[dict[str, str], list[Grant]]:
    """Chaos drills switch faults at run time through one SSM parameter the handlers poll."""
    if not config.fault_injection:
        return {}, []
    env = {"FAULTS_PARAMETER": config.faults_parameter, "FAULTS_CACHE_SECONDS": str(config.faults_cache_seconds)}
    return env, [Grant(actions=["ssm:GetParameter"], parameter_path=config.faults_parameter)]


def _functions(config: HookstackConfig) -> list[Function]:
    secrets = {p: config.provider_secret_parameter(p) for p in PROVIDERS}
    faults_env, faults_grants = _fault_injection(config)
    return [
        Function(
            logical_id="AuthorizerFunction",
            name=config.resource_name("authorizer"),
            handler=_handler(config, "authorizer"),
            memory_mb=256,
            timeout_seconds=5,
            environment={
                **_common_env(config, "authorizer"),
                "TENANT_PARAMETER_PATH": config.tenant_parameter_path,
                "IDENTITY_HEADER": config.identity_header,
                **(
                    {"IDENTITY_QUERY_PARAMETER": config.identity_query_parameter}
                    if config.identity_query_parameter
                    else {}
                ),
                "SECRET_CACHE_SECONDS": str(config.secret_cache_seconds),
            },
            grants=[Grant(actions=["ssm:GetParametersByPath"], parameter_path=config.tenant_parameter_path)],
        ),
        Function(
            logical_id="ProducerFunction",
            name=config.resource_name("producer"),
            handler=_handler(config, "producer"),
            memory_mb=512,
            timeout_seconds=10,
            environment={
                **_common_env(config, "producer"),
                "PROVIDER_SECRET_PARAMETERS": json.dumps(secrets, sort_keys=True),
                "MAX_BODY_BYTES": str(config.max_request_bytes),
                "CLAIM_CHECK_BYTES": str(config.claim_check_bytes),
                "SECRET_CACHE_SECONDS": str(config.secret_cache_seconds),
                **faults_env,
            },
            environment_refs={
                "EVENTS_TABLE": ("EventsTable", "Ref"),
                "QUEUE_URL": ("IngestQueue", "QueueUrl"),
                "PAYLOAD_BUCKET": ("PayloadBucket", "Ref"),
            },
            grants=[
                Grant(
                    actions=["ssm:GetParameter", "ssm:GetParameters"],
                    parameter_path=f"{config.parameter_prefix}/providers/",
                ),
                Grant(actions=["sqs:SendMessage"], resource="IngestQueue"),
                Grant(actions=["dynamodb:UpdateItem"], resource="EventsTable"),
                Grant(actions=["s3:PutObject"], resource="PayloadBucket", object_prefix="payloads/"),
                *faults_grants,
            ],
        ),
        Function(
            logical_id="WorkerFunction",
            name=config.resource_name("worker"),
            handler=_handler(config, "worker"),
            memory_mb=1024,
            timeout_seconds=config.worker_timeout_seconds,
            environment={
                **_common_env(config, "worker"),
                "MAX_RECEIVE_COUNT": str(config.max_receive_count),
                **faults_env,
            },
            environment_refs={
                "EVENTS_TABLE": ("EventsTable", "Ref"),
                "PROJECTIONS_TABLE": ("ProjectionsTable", "Ref"),
                "DLQ_URL": ("IngestDeadLetterQueue", "QueueUrl"),
                "PAYLOAD_BUCKET": ("PayloadBucket", "Ref"),
            },
            grants=[
                Grant(
                    actions=[
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ],
                    resource="IngestQueue",
                ),
                Grant(actions=["sqs:SendMessage"], resource="IngestDeadLetterQueue"),
                # Status items and the transaction (TransactWriteItems is authorised per member
                # action: UpdateItem on each table); GetItem where a cancellation lacks the old item.
                Grant(actions=["dynamodb:UpdateItem", "dynamodb:GetItem"], resource="EventsTable"),
                Grant(actions=["dynamodb:UpdateItem"], resource="ProjectionsTable"),
                Grant(actions=["s3:GetObject"], resource="PayloadBucket", object_prefix="payloads/"),
                *faults_grants,
            ],
        ),
        Function(
            logical_id="StatusFunction",
            name=config.resource_name("status"),
            handler=_handler(config, "status"),
            memory_mb=256,
            timeout_seconds=5,
            environment=_common_env(config, "status"),
            environment_refs={"EVENTS_TABLE": ("EventsTable", "Ref")},
            grants=[Grant(actions=["dynamodb:GetItem"], resource="EventsTable")],
        ),
    ]


def hookstack_stack(config: HookstackConfig) -> StackDefinition:
    """The ingestion stack: API → authorizer → producer → FIFO queue → worker → DLQ."""
    dlq = Queue(
        logical_id="IngestDeadLetterQueue",
        name=f"{config.resource_name('ingest-dlq')}.fifo",
        retention_seconds=14 * 24 * 3600,  # longer than the source: a DLQ must outlive it
        # Same mode as the source: when every event fails permanently the worker dead-letters at
        # the ingestion rate, beyond a plain FIFO queue's 300 sends/s.
        high_throughput=config.fifo_high_throughput,
    )
    queue = Queue(
        logical_id="IngestQueue",
        name=f"{config.resource_name('ingest')}.fifo",
        visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * config.worker_timeout_seconds,
        dead_letter_queue=dlq.logical_id,
        max_receive_count=config.max_receive_count,
        high_throughput=config.fifo_high_throughput,
    )
    api = RestApi(
        logical_id="WebhookApi",
        name=config.resource_name("webhooks"),
        authorizers=[
            Authorizer(
                logical_id="TokenAuthorizer",
                name=config.resource_name("token-authorizer"),
                function="AuthorizerFunction",
                identity_header=config.identity_header,
                identity_query_parameter=config.identity_query_parameter,
                # With a source-IP allow-list the decision depends on the caller's address too.
                extra_identity_sources=(
                    ["context.identity.sourceIp"] if any(t.source_cidrs for t in config.tenants) else []
                ),
                result_ttl_seconds=config.authorizer_ttl_seconds,
            )
        ],
        routes=[
            Route(
                method="POST", path="/webhooks/{provider}", function="ProducerFunction", authorizer="TokenAuthorizer"
            ),
            Route(method="GET", path="/events/{id}", function="StatusFunction", authorizer="TokenAuthorizer"),
        ],
        stage=Stage(
            name=config.stage,
            throttle_rate_limit=config.throttle_rate_limit,
            throttle_burst_limit=config.throttle_burst_limit,
            max_request_bytes=config.max_request_bytes,
        ),
    )
    return StackDefinition(
        description=f"{config.project} webhook ingestion ({config.stage})",
        tables=[Table(logical_id="EventsTable", ttl_attribute="expiration"), Table(logical_id="ProjectionsTable")],
        buckets=[Bucket(logical_id="PayloadBucket", expire_after_days=config.payload_retention_days)],
        queues=[dlq, queue],
        functions=_functions(config),
        event_source_mappings=[
            EventSourceMapping(
                logical_id="WorkerQueueMapping",
                queue="IngestQueue",
                function="WorkerFunction",
                batch_size=config.worker_batch_size,
                maximum_concurrency=config.worker_max_concurrency,
            )
        ],
        apis=[api],
        outputs={
            "EventsTable": ("EventsTable", "Ref"),
            "ProjectionsTable": ("ProjectionsTable", "Ref"),
            "QueueUrl": ("IngestQueue", "QueueUrl"),
            "DlqUrl": ("IngestDeadLetterQueue", "QueueUrl"),
            "PayloadBucket": ("PayloadBucket", "Ref"),
            "AuthorizerFunctionName": ("AuthorizerFunction", "Ref"),
            "ProducerFunctionName": ("ProducerFunction", "Ref"),
            "WorkerFunctionName": ("WorkerFunction", "Ref"),
            "StatusFunctionName": ("StatusFunction", "Ref"),
        },
    )


def bootstrap_stack(config: HookstackConfig) -> StackDefinition:
    """The artifacts bucket: a stack cannot create the bucket its own function code must be in
    before it is created (the same reason ``cdk bootstrap`` exists)."""
    return StackDefinition(
        description=f"{config.project} deployment artifacts ({config.stage})",
        buckets=[Bucket(logical_id="ArtifactsBucket", expire_after_days=None)],
        outputs={"ArtifactsBucket": ("ArtifactsBucket", "Ref")},
    )
