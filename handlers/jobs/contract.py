"""The partner jobs pattern's contract: what a partner submits, what the jobs queue carries to the
consumer machines, what they answer on the response queue, and the job's statuses.

One definition each: the gateway's JSON-schema model (``JOB_SUBMISSION_SCHEMA``, rendered into
the template) and the intake's DTO (``JobSubmission``) describe the same document; a test holds
them to each other.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

JOB_ID_PATTERN = re.compile(r"^job_[0-9a-f]{32}$")
REFERENCE_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
CUSTOMER_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
JOB_TYPE_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
ATTACHMENT_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
MAX_ATTACHMENTS = 10
MAX_REASON_CHARS = 1000

# API Gateway takes JSON Schema draft-04 models.
JOB_SUBMISSION_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "JobSubmission",
    "type": "object",
    "required": ["reference", "customer", "type", "data"],
    "additionalProperties": False,
    "properties": {
        "reference": {"type": "string", "pattern": REFERENCE_PATTERN},
        "customer": {"type": "string", "pattern": CUSTOMER_PATTERN},
        "type": {"type": "string", "pattern": JOB_TYPE_PATTERN},
        "data": {"type": "object"},
        "attachments": {
            "type": "array",
            "maxItems": MAX_ATTACHMENTS,
            "items": {
                "type": "object",
                "required": ["name", "content_base64"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": ATTACHMENT_NAME_PATTERN},
                    "content_type": {"type": "string", "minLength": 1, "maxLength": 127},
                    "content_base64": {"type": "string"},
                },
            },
        },
    },
}


class JobStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def rank(self) -> int:
        """A status never moves to a lower rank: a late RUNNING never hides a result."""
        return _RANKS[self]

    @property
    def final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


_RANKS = {JobStatus.SUBMITTED: 0, JobStatus.RUNNING: 1, JobStatus.SUCCEEDED: 2, JobStatus.FAILED: 2}


def new_job_id() -> str:
    return f"job_{uuid.uuid4().hex}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttachmentUpload(_Strict):
    name: str = Field(pattern=ATTACHMENT_NAME_PATTERN)
    content_type: str = Field("application/octet-stream", min_length=1, max_length=127)
    content_base64: str


class JobSubmission(_Strict):
    """POST /jobs, as the partner sends it."""

    reference: str = Field(pattern=REFERENCE_PATTERN)
    customer: str = Field(pattern=CUSTOMER_PATTERN)
    type: str = Field(pattern=JOB_TYPE_PATTERN)
    data: dict[str, Any]
    attachments: list[AttachmentUpload] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class AttachmentRef(_Strict):
    """An attachment as the consumer gets it: inline, or in S3 when the message would exceed the
    queue's limit (claim check)."""

    name: str
    content_type: str
    bytes: int
    sha256: str
    inline_base64: str | None = None
    bucket: str | None = None
    key: str | None = None


class JobMessage(_Strict):
    """The jobs queue's message body: everything a consumer machine needs to run the job."""

    job_id: str
    tenant: str
    reference: str
    customer: str
    type: str
    data: dict[str, Any]
    attachments: list[AttachmentRef] = []
    submitted_at_ms: int


class JobResult(_Strict):
    """The response queue's message body: a consumer's report on one job."""

    job_id: str = Field(pattern=JOB_ID_PATTERN.pattern)
    status: JobStatus
    result: dict[str, Any] | None = None
    reason: str | None = Field(None, max_length=MAX_REASON_CHARS)
    consumer: str | None = Field(None, max_length=128)
    at_ms: int

    @field_validator("status")
    @classmethod
    def _reported_by_a_consumer(cls, status: JobStatus) -> JobStatus:
        if status is JobStatus.SUBMITTED:
            raise ValueError("a consumer reports RUNNING, SUCCEEDED or FAILED")
        return status
