"""One message of the jobs queue, start to end.

    parse → RUNNING → attachments → function(job) → SUCCEEDED | FAILED → delete

The result is sent before the delete, and the delete happens only once it is sent: a consumer
that dies in between leaves the message to be redelivered and the job runs again, and the results
function applies its result once (a final status never changes). Nothing that could not be run
and reported is deleted: an unreadable body reaches the DLQ after maxReceiveCount, a job whose
report failed comes back after its visibility timeout. The heartbeat (:mod:`.visibility`) keeps
the message invisible while the job runs, up to its deadline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from handlers.jobs.contract import JOB_ID_PATTERN, MAX_REASON_CHARS, JobMessage, JobResult, JobStatus
from stack.jobs_consumer.attachments import AttachmentUnusable, fetch_attachments
from stack.jobs_consumer.handler import JobFunction
from stack.jobs_consumer.job import Job
from stack.jobs_consumer.stage import JobsStage
from stack.jobs_consumer.stats import JobOutcome, Outcome
from stack.jobs_consumer.visibility import Heartbeat, VisibilityPlan

log = logging.getLogger("stack.jobs_consumer")

MAX_MESSAGE_BYTES = 262_144  # SQS's message size limit: a larger result is reported as a failure
CONSUMER_ID_CHARS = 128  # JobResult.consumer's limit


def consumer_id(thread_name: str | None = None) -> str:
    """``host:pid:thread``, the host cut so that the whole fits the contract."""
    tail = f":{os.getpid()}:{thread_name or threading.current_thread().name}"
    return socket.gethostname()[: max(1, CONSUMER_ID_CHARS - len(tail))] + tail


def failure_reason(exc: BaseException) -> str:
    """``ExceptionClass: message``, cut to what the contract takes."""
    reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


class ResultUnusable(Exception):
    """The function returned something the response queue cannot carry as a JSON object."""


def json_object(returned: object) -> dict[str, Any]:
    """The function's return as plain JSON (tuples become lists), or ResultUnusable."""
    if not isinstance(returned, Mapping):
        raise ResultUnusable(f"the handler returned a {type(returned).__name__}, not a dict")
    try:
        text = json.dumps(returned, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ResultUnusable(f"the handler's result is not JSON-serialisable: {exc}") from None
    return json.loads(text)


def read_job_message(body: str) -> JobMessage:
    """The body as a JobMessage; ValueError (ValidationError included) when it is not one."""
    message = JobMessage.model_validate_json(body)
    if not JOB_ID_PATTERN.match(message.job_id):
        raise ValueError(f"job_id {message.job_id!r} is not a job id")
    return message


class ReportFailed(Exception):
    """The response queue did not take a result."""


@dataclass(frozen=True)
class RunSettings:
    visibility_timeout_s: int  # the jobs queue's
    max_job_s: float


class JobRunner:
    """Runs messages of one stage's jobs queue with one function; shared by the worker threads."""

    def __init__(
        self,
        stage: JobsStage,
        function: JobFunction,
        settings: RunSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.stage = stage
        self.function = function
        self.settings = settings
        self.clock = clock
        self.wall_ms = wall_ms
        self._fifo_results = stage.results_queue_url.endswith(".fifo")

    # --- the response queue ---

    def _report(
        self,
        job_id: str,
        status: JobStatus,
        consumer: str,
        result: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        report = JobResult(
            job_id=job_id, status=status, result=result, reason=reason, consumer=consumer, at_ms=self.wall_ms()
        )
        body = report.model_dump_json(exclude_none=True)
        size = len(body.encode())
        if size > MAX_MESSAGE_BYTES:
            raise ResultUnusable(f"the handler's result is {size} bytes as a message, over SQS's {MAX_MESSAGE_BYTES}")
        extra: dict[str, str] = {}
        if self._fifo_results:  # one group per job keeps its results in order
            extra = {"MessageGroupId": job_id, "MessageDeduplicationId": hashlib.sha256(body.encode()).hexdigest()}
        try:
            self.stage.sqs.send_message(QueueUrl=self.stage.results_queue_url, MessageBody=body, **extra)
        except Exception as exc:  # noqa: BLE001  (any refusal: the job is not deleted, it comes back)
            raise ReportFailed(f"{status} not sent: {exc!r}") from exc

    def _final(self, job_id: str, consumer: str, result: dict[str, Any] | None, reason: str | None) -> Outcome:
        """Send SUCCEEDED (``result``) or FAILED (``reason``); a result too large to send fails the job."""
        if reason is None:
            try:
                self._report(job_id, JobStatus.SUCCEEDED, consumer, result=result)
                return Outcome.SUCCEEDED
            except ResultUnusable as exc:
                reason = failure_reason(exc)
        self._report(job_id, JobStatus.FAILED, consumer, reason=reason)
        return Outcome.FAILED

    # --- one message ---

    def run(self, message: Mapping[str, Any], received_at: float, consumer: str | None = None) -> JobOutcome:
        consumer = consumer or consumer_id()
        message_id = str(message.get("MessageId", "?"))
        try:
            job_message = read_job_message(str(message.get("Body", "")))
        except ValueError as exc:
            first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            log.warning("message %s is not a job message, left for the DLQ: %s", message_id, first)
            return JobOutcome(Outcome.UNREADABLE, None, message_id, self.clock() - received_at, reason=first)
        job_id = job_message.job_id
        plan = VisibilityPlan.starting(received_at, self.settings.visibility_timeout_s, self.settings.max_job_s)
        with Heartbeat(self.stage.sqs, self.stage.jobs_queue_url, message["ReceiptHandle"], plan, job_id, self.clock):
            outcome, reason = self._run_job(job_message, consumer, plan)
        deleted = False
        if outcome in (Outcome.SUCCEEDED, Outcome.FAILED):
            deleted = self._delete(job_id, message["ReceiptHandle"])
        return JobOutcome(outcome, job_id, message_id, self.clock() - received_at, reason, deleted)

    def _run_job(self, message: JobMessage, consumer: str, plan: VisibilityPlan) -> tuple[Outcome, str | None]:
        job_id = message.job_id
        try:
            self._report(job_id, JobStatus.RUNNING, consumer)
        except ReportFailed as exc:
            log.warning("%s: left for redelivery, not run: %s", job_id, exc)
            return Outcome.LEFT, str(exc)
        result: dict[str, Any] | None = None
        reason: str | None = None
        try:
            attachments = fetch_attachments(message.attachments, self.stage.clients.client("s3"))
        except AttachmentUnusable as exc:
            reason = failure_reason(exc)
        except Exception as exc:  # noqa: BLE001  (S3 unreachable or refusing: a later attempt may fetch it)
            log.warning("%s: left for redelivery, attachments not fetched: %r", job_id, exc)
            return Outcome.LEFT, failure_reason(exc)
        if reason is None:
            try:
                result = json_object(self.function(Job.from_message(message, attachments, self.stage)))
            except Exception as exc:  # noqa: BLE001  (whatever the user's function raises fails the job, with its reason)
                reason = failure_reason(exc)
        if plan.abandoned(self.clock()):
            return Outcome.ABANDONED, f"past --max-job-seconds {self.settings.max_job_s:g}"
        try:
            return self._final(job_id, consumer, result, reason), reason
        except ReportFailed as exc:
            log.warning("%s: left for redelivery (the job runs again): %s", job_id, exc)
            return Outcome.LEFT, str(exc)

    def _delete(self, job_id: str, receipt_handle: str) -> bool:
        try:
            self.stage.sqs.delete_message(QueueUrl=self.stage.jobs_queue_url, ReceiptHandle=receipt_handle)
        except Exception as exc:  # noqa: BLE001  (the result is sent: a redelivery runs the job again, applied once)
            log.warning("%s: result sent but DeleteMessage failed, it will run again: %r", job_id, exc)
            return False
        return True
