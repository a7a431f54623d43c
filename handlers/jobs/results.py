"""The response queue → the job's status: each consumer report moves its job to RUNNING,
SUCCEEDED or FAILED, never back (a redelivered or late report is a no-op, counted).

A report that is not a ``JobResult`` fails its record only (partial batch response): SQS
retries it and, after ``maxReceiveCount``, keeps it in the response queue's DLQ to look at.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from handlers.contract.settings import JobsTableSettings
from handlers.errors import MalformedMessageError
from handlers.jobs.contract import JobResult
from handlers.jobs.store import JobStore
from handlers.platform.aws_clients import client
from handlers.platform.logging_setup import elapsed_ms, function_logger

logger = function_logger("jobs-results")


class JobResults:
    def __init__(self, store: JobStore):
        self._store = store
        self._processor = BatchProcessor(event_type=EventType.SQS)

    def apply_record(self, record: SQSRecord) -> None:
        try:
            result = JobResult.model_validate_json(record.body)
        except ValueError as error:
            raise MalformedMessageError(f"not a job result: {error}") from None
        started = time.perf_counter()
        applied = self._store.apply(result)
        logger.info(
            "jobs-results",
            extra={
                "function": "jobs-results",
                "job_id": result.job_id,
                "status": result.status.value if applied else "ignored",
                "duration_ms": elapsed_ms(started),
            },
        )

    def handle(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        return process_partial_response(
            event=event, record_handler=self.apply_record, processor=self._processor, context=context
        )


@functools.cache
def _results() -> JobResults:
    return JobResults(JobStore(client("dynamodb"), JobsTableSettings.from_env().jobs_table))


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return _results().handle(event, context)
