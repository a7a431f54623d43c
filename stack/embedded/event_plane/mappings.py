"""The deployed stack's SQS event source mappings, read from the emulator's control planes.

Nothing is written by hand: the mappings are the stack's ``AWS::Lambda::EventSourceMapping``
resources (CloudFormation), each read back with GetEventSourceMapping, its queue with
GetQueueAttributes and its function (code included) as the gateway reads its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.embedded.gateway.definition import FunctionSpec
from stack.embedded.gateway.discovery import DefinitionError, FunctionRef, NotSupportedOnTarget, read_function

ESM_RESOURCE_TYPE = "AWS::Lambda::EventSourceMapping"
# Lambda's default when a mapping sets no ScalingConfig.MaximumConcurrency (SQS: up to 1,000).
DEFAULT_MAXIMUM_CONCURRENCY = 1000
# FIFO sources take at most 10 records a batch; standard queues up to 10,000 with a batching window.
FIFO_MAX_BATCH_SIZE = 10


@dataclass(frozen=True, slots=True)
class MappingSettings:
    """What a mapping's owner may change while it runs (re-read while polling)."""

    enabled: bool
    batch_size: int
    batching_window_s: float
    maximum_concurrency: int
    report_batch_item_failures: bool

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> MappingSettings:
        scaling = raw.get("ScalingConfig") or {}
        state = raw.get("State")
        return cls(
            enabled=state in ("Enabled", "Enabling", "Updating", "Creating") if state else bool(raw.get("Enabled")),
            batch_size=int(raw.get("BatchSize") or 10),
            batching_window_s=float(raw.get("MaximumBatchingWindowInSeconds") or 0),
            maximum_concurrency=int(scaling.get("MaximumConcurrency") or DEFAULT_MAXIMUM_CONCURRENCY),
            report_batch_item_failures="ReportBatchItemFailures" in (raw.get("FunctionResponseTypes") or []),
        )


@dataclass(frozen=True, slots=True)
class QueueMapping:
    """One SQS → Lambda event source mapping of the stack."""

    uuid: str
    arn: str
    logical_id: str
    queue_arn: str
    queue_url: str
    fifo: bool
    visibility_timeout_s: int
    function: FunctionSpec
    settings: MappingSettings

    @property
    def label(self) -> str:
        return self.logical_id


def queue_name_from_arn(arn: str) -> tuple[str, str]:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` → (account, name)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs" or not parts[5]:
        raise DefinitionError(f"not an SQS queue ARN: {arn!r}")
    return parts[4], parts[5]


def stack_mapping_ids(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """Logical id → UUID of every event source mapping in ``stack_name``."""
    from botocore.exceptions import ClientError

    try:
        pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name)
        summaries = [s for page in pages for s in page.get("StackResourceSummaries", [])]
    except ClientError as exc:
        raise DefinitionError(f"stack {stack_name!r} cannot be read: {exc}") from exc
    return {
        s["LogicalResourceId"]: s["PhysicalResourceId"]
        for s in summaries
        if s.get("ResourceType") == ESM_RESOURCE_TYPE and s.get("PhysicalResourceId")
    }


def read_mapping(
    clients: Mapping[str, Any], logical_id: str, uuid: str, endpoint_url: str, state_dir: Path
) -> QueueMapping | None:
    """One mapping, or None when the event plane leaves it to the emulator's poller: a stream
    source, or filter criteria (not modelled here)."""
    from botocore.exceptions import ClientError

    try:
        raw = clients["lambda"].get_event_source_mapping(UUID=uuid)
    except ClientError as exc:
        raise DefinitionError(f"event source mapping {logical_id} ({uuid}) cannot be read: {exc}") from exc
    source = raw.get("EventSourceArn") or ""
    if ":sqs:" not in source or raw.get("FilterCriteria"):
        # Streams and filtered mappings stay with the emulator's poller (docs/event-plane.md).
        return None
    _, queue_name = queue_name_from_arn(source)
    try:
        queue_url = clients["sqs"].get_queue_url(QueueName=queue_name)["QueueUrl"]
        attributes = clients["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    except ClientError as exc:
        raise DefinitionError(f"queue {queue_name!r} of mapping {logical_id} cannot be read: {exc}") from exc
    function_arn = raw.get("FunctionArn") or ""
    parts = function_arn.split(":")
    if len(parts) < 7:
        raise DefinitionError(f"mapping {logical_id}: not a function ARN: {function_arn!r}")
    qualifier = parts[7] if len(parts) > 7 and parts[7] else None
    function = read_function(clients["lambda"], FunctionRef(parts[6], qualifier), endpoint_url, state_dir)
    fifo = str(attributes.get("FifoQueue", "false")).lower() == "true"
    settings = MappingSettings.from_api(raw)
    if fifo and settings.batch_size > FIFO_MAX_BATCH_SIZE:
        raise DefinitionError(f"mapping {logical_id}: BatchSize {settings.batch_size} > 10 on a FIFO queue")
    return QueueMapping(
        uuid=uuid,
        arn=raw.get("EventSourceMappingArn") or "",
        logical_id=logical_id,
        queue_arn=source,
        queue_url=queue_url,
        fifo=fifo,
        visibility_timeout_s=int(attributes.get("VisibilityTimeout") or 30),
        function=function,
        settings=settings,
    )


def discover_mappings(
    clients: Mapping[str, Any], stack_name: str, endpoint_url: str, state_dir: Path
) -> list[QueueMapping]:
    """Every SQS event source mapping of ``stack_name``, with its function's code unpacked."""
    found = []
    for logical_id, uuid in sorted(stack_mapping_ids(clients["cloudformation"], stack_name).items()):
        mapping = read_mapping(clients, logical_id, uuid, endpoint_url, state_dir)
        if mapping is not None:
            found.append(mapping)
    return found


__all__ = [
    "DefinitionError",
    "MappingSettings",
    "NotSupportedOnTarget",
    "QueueMapping",
    "discover_mappings",
    "read_mapping",
]
