"""The webhooks pattern: provider deliveries → producer (shallow validation, 202) → SQS FIFO →
worker (deep validation, exactly-once projection) → DLQ with fix-and-replay; status by event id."""

from __future__ import annotations

import json

from stack.config import PROVIDERS, HookstackConfig
from stack.definition.models import Bucket, EventSourceMapping, Function, Grant, Queue, Route, Table
from stack.patterns.base import (
    VISIBILITY_TIMEOUT_FACTOR,
    Pattern,
    PatternParts,
    Platform,
    fault_injection,
    function_environment,
    output_name,
)


def _handler(config: HookstackConfig, function: str) -> str:
    if config.handler_set == "baseline-status" and function == "producer":
        return "handlers.baseline.producer_recording_status_handler"
    if config.handler_set in ("baseline", "baseline-status"):
        return f"handlers.baseline.{function}_handler"
    return f"handlers.{function}.handler"


def _functions(config: HookstackConfig) -> list[Function]:
    secrets = {p: config.provider_secret_parameter(p) for p in PROVIDERS}
    faults_env, faults_grants = fault_injection(config)
    return [
        Function(
            logical_id="ProducerFunction",
            name=config.resource_name("producer"),
            handler=_handler(config, "producer"),
            memory_mb=512,
            timeout_seconds=10,
            environment={
                **function_environment(config, "producer"),
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
                **function_environment(config, "worker"),
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
            environment=function_environment(config, "status"),
            environment_refs={"EVENTS_TABLE": ("EventsTable", "Ref")},
            grants=[Grant(actions=["dynamodb:GetItem"], resource="EventsTable")],
        ),
    ]


class WebhooksPattern(Pattern):
    name = "webhooks"
    summary = "provider webhooks → 202 → SQS FIFO → worker → DLQ and replay; GET /events/{id}"

    def parts(self, config: HookstackConfig, platform: Platform) -> PatternParts:
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
        functions = _functions(config)
        return PatternParts(
            tables=[Table(logical_id="EventsTable", ttl_attribute="expiration"), Table(logical_id="ProjectionsTable")],
            buckets=[Bucket(logical_id="PayloadBucket", expire_after_days=config.payload_retention_days)],
            queues=[dlq, queue],
            functions=functions,
            event_source_mappings=[
                EventSourceMapping(
                    logical_id="WorkerQueueMapping",
                    queue="IngestQueue",
                    function="WorkerFunction",
                    batch_size=config.worker_batch_size,
                    maximum_concurrency=config.worker_max_concurrency,
                )
            ],
            routes=[
                Route(
                    method="POST",
                    path="/webhooks/{provider}",
                    function="ProducerFunction",
                    authorizer=platform.authorizer,
                    responses={
                        202: "accepted: queued durably",
                        400: "the body or a delivery header is not what the provider sends",
                        401: "the provider signature does not verify",
                        403: "the provider is not allowed for this tenant",
                        404: "unknown provider",
                        413: "body larger than the stage takes",
                        415: "not application/json",
                        503: "not queued (a store or secret unavailable): the provider retries",
                    },
                ),
                Route(
                    method="GET",
                    path="/events/{id}",
                    function="StatusFunction",
                    authorizer=platform.authorizer,
                    responses={200: "the event's status", 403: "no tenant", 404: "no such event for this tenant"},
                ),
            ],
            outputs={
                "EventsTable": ("EventsTable", "Ref"),
                "ProjectionsTable": ("ProjectionsTable", "Ref"),
                "QueueUrl": ("IngestQueue", "QueueUrl"),
                "DlqUrl": ("IngestDeadLetterQueue", "QueueUrl"),
                "PayloadBucket": ("PayloadBucket", "Ref"),
                **{output_name(f.logical_id): (f.logical_id, "Ref") for f in functions},
            },
        )
