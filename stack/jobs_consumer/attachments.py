"""A job's attachments, fetched before its function runs: inline (base64 in the message) or in S3
(the intake's claim check), each checked against the size and sha256 the intake recorded."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from handlers.jobs.contract import AttachmentRef

# S3's answers for an object that is not there (HeadObject-style 404s carry no code name).
_ABSENT_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404"})


class AttachmentUnusable(Exception):
    """An attachment the job can never use: the job FAILS with this reason (a retry would not help)."""


class AttachmentMissing(AttachmentUnusable):
    """The attachment's S3 object is gone (or the message names none)."""


class AttachmentCorrupt(AttachmentUnusable):
    """The attachment's bytes are not the ones the intake stored: size, digest or base64 differ."""


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    size: int  # bytes
    sha256: str  # hex digest
    _content: bytes = field(repr=False)

    def read(self) -> bytes:
        return self._content


def _stored_bytes(ref: AttachmentRef, s3: Any) -> bytes:
    if ref.inline_base64 is not None:
        try:
            return base64.b64decode(ref.inline_base64, validate=True)
        except (binascii.Error, ValueError):
            raise AttachmentCorrupt(f"attachment {ref.name!r}: its inline content is not base64") from None
    if ref.bucket is None or ref.key is None:
        raise AttachmentMissing(f"attachment {ref.name!r}: the message carries neither its content nor its S3 object")
    try:
        return s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _ABSENT_CODES:
            raise AttachmentMissing(f"attachment {ref.name!r}: s3://{ref.bucket}/{ref.key} does not exist") from None
        raise  # access denied, throttling, an outage: the job is left for redelivery


def fetch_attachment(ref: AttachmentRef, s3: Any) -> Attachment:
    """The attachment's bytes, verified; AttachmentUnusable when they can never be right. Any
    other error (S3 unreachable, access denied) propagates: the job is left for redelivery."""
    content = _stored_bytes(ref, s3)
    if len(content) != ref.bytes:
        raise AttachmentCorrupt(f"attachment {ref.name!r}: {len(content)} bytes, the job says {ref.bytes}")
    digest = hashlib.sha256(content).hexdigest()
    if digest != ref.sha256.lower():
        raise AttachmentCorrupt(f"attachment {ref.name!r}: sha256 {digest} does not match the job's {ref.sha256}")
    return Attachment(ref.name, ref.content_type, ref.bytes, digest, content)


def fetch_attachments(refs: Sequence[AttachmentRef], s3: Any) -> tuple[Attachment, ...]:
    return tuple(fetch_attachment(ref, s3) for ref in refs)
