"""POST /jobs: the partner's job, checked, recorded and queued; 202 with its id — or an answer
saying why not, with nothing half-written.

The gateway has already checked the body against the ``JobSubmission`` model (400 before this
runs). Here: the same document as a DTO (a caller that bypasses the gateway gets the same
400), attachments decoded (not base64 → 400), attachments to S3 when the message would exceed
the queue's limit (claim check), the job item and the tenant's reference claim in one
transaction (reference taken → 409 naming the job that has it), then SendMessage. A failed send
takes the job and its claim back and answers 503: never a 202 for a job that is not queued, and
never a job item without its message. (Attachments written before a refusal are left to the
bucket's expiry rule: no job refers to them.)
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import time
from collections.abc import Mapping
from typing import Any

from handlers.contract.settings import JobsIntakeSettings
from handlers.jobs.contract import AttachmentRef, JobMessage, JobSubmission, new_job_id
from handlers.jobs.store import DuplicateReference, JobStore, NewJob
from handlers.platform.api_gateway import authorizer_context, json_response, raw_body
from handlers.platform.api_intake import Refusal, answer_submission, read_submission, status_url
from handlers.platform.aws_clients import client
from handlers.platform.logging_setup import function_logger

logger = function_logger("jobs-intake")

ATTACHMENT_PREFIX = "attachments/"


def read_job(body: bytes, max_body_bytes: int) -> JobSubmission:
    return read_submission(body, max_body_bytes, JobSubmission, "job")


def decoded_attachments(submission: JobSubmission) -> list[tuple[str, str, bytes]]:
    """(name, content type, bytes) per attachment; a name used twice or content that is not
    base64 is a 400."""
    seen: set[str] = set()
    decoded = []
    for attachment in submission.attachments:
        if attachment.name in seen:
            raise Refusal(400, f"attachment {attachment.name!r} is given twice")
        seen.add(attachment.name)
        try:
            content = base64.b64decode(attachment.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise Refusal(400, f"attachment {attachment.name!r} is not valid base64") from None
        decoded.append((attachment.name, attachment.content_type, content))
    return decoded


def job_message(
    job_id: str,
    tenant: str,
    submission: JobSubmission,
    attachments: list[tuple[str, str, bytes]],
    submitted_at_ms: int,
    claim_check_bytes: int,
    put_object: Any,
) -> JobMessage:
    """The queue message; inline attachments unless that makes it larger than
    ``claim_check_bytes``, else every attachment in S3 (``put_object(key, body, content_type)``
    returns the bucket) and only their references in the message."""

    def build(refs: list[AttachmentRef]) -> JobMessage:
        return JobMessage(
            job_id=job_id,
            tenant=tenant,
            reference=submission.reference,
            customer=submission.customer,
            type=submission.type,
            data=submission.data,
            attachments=refs,
            submitted_at_ms=submitted_at_ms,
        )

    def ref(name: str, content_type: str, content: bytes, **where: Any) -> AttachmentRef:
        digest = hashlib.sha256(content).hexdigest()
        return AttachmentRef(name=name, content_type=content_type, bytes=len(content), sha256=digest, **where)

    inline = build(
        [
            ref(name, ctype, content, inline_base64=base64.b64encode(content).decode())
            for name, ctype, content in attachments
        ]
    )
    if len(inline.model_dump_json().encode()) <= claim_check_bytes:
        return inline
    refs = []
    for index, (name, content_type, content) in enumerate(attachments):
        key = f"{ATTACHMENT_PREFIX}{tenant}/{job_id}/{index}-{name}"
        refs.append(ref(name, content_type, content, bucket=put_object(key, content, content_type), key=key))
    return build(refs)


class JobIntake:
    def __init__(self, settings: JobsIntakeSettings, store: JobStore, sqs: Any, s3: Any):
        self._settings = settings
        self._store = store
        self._sqs = sqs
        self._s3 = s3

    def _put_attachment(self, key: str, content: bytes, content_type: str) -> str:
        bucket = self._settings.attachments_bucket
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=content, ContentType=content_type)
        except Exception as error:  # noqa: BLE001  (any S3 failure: nothing was recorded yet, 503)
            raise Refusal(503, f"attachment store unavailable: {type(error).__name__}") from None
        return bucket

    def submit(self, event: Mapping[str, Any], log: dict[str, Any]) -> dict[str, Any]:
        tenant = str(authorizer_context(event).get("tenant") or "")
        if not tenant:
            return json_response(403, {"message": "no tenant in the request context"})
        try:
            body = raw_body(event)
        except ValueError as error:
            raise Refusal(400, str(error)) from None
        submission = read_job(body, self._settings.max_body_bytes)
        attachments = decoded_attachments(submission)
        job_id = new_job_id()
        log.update(job_id=job_id, reference=submission.reference, attachments=len(attachments))
        submitted_at_ms = int(time.time() * 1000)
        message = job_message(
            job_id,
            tenant,
            submission,
            attachments,
            submitted_at_ms,
            self._settings.claim_check_bytes,
            self._put_attachment,
        )
        job = NewJob(
            job_id=job_id,
            tenant=tenant,
            reference=submission.reference,
            customer=submission.customer,
            type=submission.type,
            attachments=len(attachments),
            submitted_at_ms=submitted_at_ms,
        )
        try:
            self._store.create(job)
        except DuplicateReference as duplicate:
            raise Refusal(409, str(duplicate), id=duplicate.job_id) from None
        except Exception as error:  # noqa: BLE001  (nothing was written: the partner may retry)
            raise Refusal(503, f"job store unavailable: {type(error).__name__}") from None
        try:
            self._sqs.send_message(QueueUrl=self._settings.jobs_queue_url, MessageBody=message.model_dump_json())
        except Exception as error:  # noqa: BLE001  (not queued: take the job back, then 503)
            self._take_back(job, log)
            raise Refusal(503, f"jobs queue unavailable: {type(error).__name__}") from None
        return json_response(202, {"id": job_id, "status": "SUBMITTED", "status_url": status_url(event, job_id)})

    def _take_back(self, job: NewJob, log: dict[str, Any]) -> None:
        try:
            self._store.take_back(job)
        except Exception:  # noqa: BLE001  (both stores failing: say which job is left, loudly)
            log["orphaned_job"] = job.job_id
            logger.exception("job recorded but neither queued nor taken back", extra={"job_id": job.job_id})


@functools.cache
def _intake() -> JobIntake:
    settings = JobsIntakeSettings.from_env()
    return JobIntake(settings, JobStore(client("dynamodb"), settings.jobs_table), client("sqs"), client("s3"))


def handle(intake: JobIntake, event: Mapping[str, Any]) -> dict[str, Any]:
    log: dict[str, Any] = {"job_id": None}
    return answer_submission(logger, "jobs-intake", "job", log, lambda: intake.submit(event, log))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_intake(), event)
