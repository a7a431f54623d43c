"""The response queue → the job's status: each consumer report moves its job to RUNNING,
SUCCEEDED or FAILED, never back (a redelivered or late report is a no-op, counted).

A report that is not a ``JobResult`` fails its record only (partial batch response): SQS
retries it and, after ``maxReceiveCount``, keeps it in the response queue's DLQ to look at.

With the notifications pattern (COMPLETIONS_TOPIC_ARN set), a final result publishes the job's
``job.completed`` event whenever the stored job is final afterwards, a repeated result included:
a publish that failed fails the record, and its retry (a no-op on the table) publishes again,
with the same event id, so the receiver sees one delivery in effect.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from handlers.contract.settings import JobsResultsSettings
from handlers.errors import MalformedMessageError
from handlers.jobs.contract import JobResult, JobStatus
from handlers.jobs.query import job_document
from handlers.jobs.store import JobStore
from handlers.notifications.contract import JOB_COMPLETED, Notification, NotificationPublisher, notification_id
from handlers.platform.aws_clients import client
from handlers.platform.logging_setup import elapsed_ms, function_logger
from handlers.platform.timestamps import iso_from_ms

logger = function_logger("jobs-results")

COMPLETION_FIELDS = ("id", "reference", "customer", "type", "status", "result", "reason")


def completion_event(job: Mapping[str, Any]) -> tuple[str, Notification]:
    """A final job's ``job.completed`` event and its id, both derived from the stored job only
    (its ``updated_at`` is the moment of the final result): the same bytes every time."""
    document = job_document(job)
    event_id = notification_id(JOB_COMPLETED, f"{job['id']}.{job['status']}")
    notification = Notification(
        type=JOB_COMPLETED,
        timestamp=iso_from_ms(int(job["updated_at"])),
        data={name: document[name] for name in COMPLETION_FIELDS},
    )
    return event_id, notification


class JobResults:
    def __init__(self, store: JobStore, completions: NotificationPublisher | None = None):
        self._store = store
        self._completions = completions
        self._processor = BatchProcessor(event_type=EventType.SQS)

    def apply_record(self, record: SQSRecord) -> None:
        try:
            result = JobResult.model_validate_json(record.body)
        except ValueError as error:
            raise MalformedMessageError(f"not a job result: {error}") from None
        started = time.perf_counter()
        settled = self._store.settle(result)
        published = self._publish_completion(result, settled.job)
        logger.info(
            "jobs-results",
            extra={
                "function": "jobs-results",
                "job_id": result.job_id,
                "status": result.status.value if settled.applied else "ignored",
                "published": published,
                "duration_ms": elapsed_ms(started),
            },
        )

    def _publish_completion(self, result: JobResult, job: Mapping[str, Any] | None) -> str | None:
        """The event id published, or None when there is nothing to publish."""
        if self._completions is None or not result.status.final or job is None:
            return None
        if not JobStatus(job["status"]).final:
            return None
        event_id, notification = completion_event(job)
        self._completions.publish(str(job["tenant"]), event_id, notification)
        return event_id

    def handle(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        return process_partial_response(
            event=event, record_handler=self.apply_record, processor=self._processor, context=context
        )


@functools.cache
def _results() -> JobResults:
    settings = JobsResultsSettings.from_env()
    topic = settings.completions_topic_arn
    completions = NotificationPublisher(client("sns"), topic) if topic else None
    return JobResults(JobStore(client("dynamodb"), settings.jobs_table), completions)


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return _results().handle(event, context)
