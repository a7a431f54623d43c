"""The CDC pattern: items written to a table by any number of sources → its DynamoDB stream →
capture (newly inserted items only) → a FIFO queue, one group per ordering key → the trickle, run
by schedules, sends the oldest items to a rate-limited third party within its limit, deleting
each only after a 2xx (docs/cdc.md)."""

from __future__ import annotations

import math
import re

from stack.config import HookstackConfig
from stack.definition.models import Function, Grant, Queue, Schedule, StreamMapping, Table
from stack.patterns.base import (
    VISIBILITY_TIMEOUT_FACTOR,
    Pattern,
    PatternParts,
    Platform,
    function_environment,
    output_name,
)

SOURCE_TABLE = "CdcSourceTable"
CDC_QUEUE = "CdcQueue"
CDC_DLQ = "CdcDeadLetterQueue"
CAPTURE_FAILURES_QUEUE = "CdcCaptureFailuresQueue"
CAPTURE_FUNCTION = "CdcCaptureFunction"
TRICKLE_FUNCTION = "CdcTrickleFunction"
CAPTURE_TIMEOUT_SECONDS = 30
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# The trickle's invocation outlasts its slowest run (max_messages at the rate) by this much.
TRICKLE_TIMEOUT_MARGIN_SECONDS = 30
# A failing stream batch is retried (bisected) this often, for at most this long, before its
# records go to the on-failure queue and the shard moves on.
STREAM_RETRY_ATTEMPTS = 5
STREAM_MAX_RECORD_AGE_SECONDS = 3600
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]


def trickle_timeout_seconds(config: HookstackConfig) -> int:
    run = math.ceil(config.cdc_trickle_max_messages / config.cdc_trickle_rate_per_s)
    return min(900, run + TRICKLE_TIMEOUT_MARGIN_SECONDS)


def schedule_logical_id(name: str) -> str:
    """``nightly`` → ``CdcTrickleNightlySchedule``."""
    return "CdcTrickle" + "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part) + "Schedule"


def _functions(config: HookstackConfig) -> list[Function]:
    return [
        Function(
            logical_id=CAPTURE_FUNCTION,
            name=config.resource_name("cdc-capture"),
            handler="handlers.cdc.capture.handler",
            memory_mb=256,
            timeout_seconds=CAPTURE_TIMEOUT_SECONDS,
            environment=function_environment(config, "cdc-capture"),
            environment_refs={"CDC_QUEUE_URL": (CDC_QUEUE, "QueueUrl")},
            grants=[
                Grant(actions=STREAM_ACTIONS, resource=SOURCE_TABLE, stream=True),
                Grant(actions=["sqs:SendMessage"], resource=CDC_QUEUE),
                # Lambda sends a failed batch's record metadata to the on-failure queue as this role.
                Grant(actions=["sqs:SendMessage"], resource=CAPTURE_FAILURES_QUEUE),
            ],
        ),
        Function(
            logical_id=TRICKLE_FUNCTION,
            name=config.resource_name("cdc-trickle"),
            handler="handlers.cdc.trickle.handler",
            memory_mb=256,
            timeout_seconds=trickle_timeout_seconds(config),
            # One run at a time: two runs at once would double the rate the partner sees.
            reserved_concurrency=1,
            environment={
                **function_environment(config, "cdc-trickle"),
                "PARTNER_URL": config.partner_url or "",
                "PARTNER_API_KEY_PARAMETER": config.partner_api_key_parameter,
                "TRICKLE_MAX_MESSAGES": str(config.cdc_trickle_max_messages),
                "TRICKLE_RATE_PER_S": f"{config.cdc_trickle_rate_per_s:g}",
                "SECRET_CACHE_SECONDS": str(config.secret_cache_seconds),
            },
            environment_refs={"CDC_QUEUE_URL": (CDC_QUEUE, "QueueUrl"), "CDC_DLQ_URL": (CDC_DLQ, "QueueUrl")},
            grants=[
                Grant(
                    actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
                    resource=CDC_QUEUE,
                ),
                Grant(actions=["sqs:SendMessage"], resource=CDC_DLQ),
                # The AWS-managed SSM key decrypts for SSM's callers: no KMS grant is needed.
                Grant(actions=["ssm:GetParameter"], parameter=config.partner_api_key_parameter),
            ],
        ),
    ]


class CdcPattern(Pattern):
    name = "cdc"
    summary = "CDC: table stream → inserts only → FIFO queue → scheduled trickle to a rate-limited partner API"

    def parts(self, config: HookstackConfig, platform: Platform) -> PatternParts:
        functions = _functions(config)
        trickle_timeout = trickle_timeout_seconds(config)
        queues = [
            Queue(
                logical_id=CDC_DLQ,
                name=config.resource_name("cdc-dlq.fifo"),
                retention_seconds=DLQ_RETENTION_SECONDS,
            ),
            Queue(
                logical_id=CDC_QUEUE,
                name=config.resource_name("cdc.fifo"),
                # A run holds one receive's messages at a time; one the partner refused is hidden
                # for its Retry-After instead. No redrive: a throttled or down partner is no
                # fault of the item, so only the trickle dead-letters (a permanent refusal).
                visibility_timeout_seconds=trickle_timeout,
                retention_seconds=DLQ_RETENTION_SECONDS,
            ),
            Queue(
                logical_id=CAPTURE_FAILURES_QUEUE,
                name=config.resource_name("cdc-capture-failures"),
                fifo=False,
                visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * CAPTURE_TIMEOUT_SECONDS,
                retention_seconds=DLQ_RETENTION_SECONDS,
            ),
        ]
        return PatternParts(
            tables=[Table(logical_id=SOURCE_TABLE, stream="NEW_IMAGE")],
            queues=queues,
            functions=functions,
            stream_mappings=[
                StreamMapping(
                    logical_id="CdcCaptureMapping",
                    table=SOURCE_TABLE,
                    function=CAPTURE_FUNCTION,
                    batch_size=100,
                    event_names=["INSERT"],
                    maximum_retry_attempts=STREAM_RETRY_ATTEMPTS,
                    maximum_record_age_seconds=STREAM_MAX_RECORD_AGE_SECONDS,
                    on_failure_queue=CAPTURE_FAILURES_QUEUE,
                )
            ],
            schedules=[
                Schedule(
                    logical_id=schedule_logical_id(name),
                    name=config.resource_name(f"cdc-{name}"),
                    expression=expression,
                    function=TRICKLE_FUNCTION,
                )
                for name, expression in config.cdc_trickle_schedules.items()
            ],
            outputs={
                "CdcSourceTable": (SOURCE_TABLE, "Ref"),
                "CdcQueueUrl": (CDC_QUEUE, "QueueUrl"),
                "CdcDlqUrl": (CDC_DLQ, "QueueUrl"),
                "CdcCaptureFailuresQueueUrl": (CAPTURE_FAILURES_QUEUE, "QueueUrl"),
                **{output_name(f.logical_id): (f.logical_id, "Ref") for f in functions},
            },
        )
