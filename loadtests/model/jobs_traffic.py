"""What partner companies submit to ``POST /jobs`` in the ``partner-jobs`` scenario: valid jobs of
the sample handler (customer records, a little simulated work), each with one attachment whose
size class decides how it travels.

The intake keeps an attachment inline in the queue message while the message stays within the
stage's ``claim_check_bytes``; past it, the attachment goes to S3 (claim check). Base64 makes the
inline copy 4/3 of the raw size, so the classes keep clear of that boundary on both sides:

| class | raw attachment bytes | travels |
|---|---|---|
| ``inline-small`` | 256 B – 8 KiB | in the message |
| ``inline-large`` | 8 KiB – 0.6 × claim check | in the message (base64 ≤ 0.8 × the threshold) |
| ``claim-check`` | 0.8 × claim check – the queue's limit | S3 (base64 > the threshold) |
| ``over-queue-limit`` | the queue's limit – 2.5 MB | S3: the raw bytes alone exceed what SQS carries |

The largest stays within the stage's body limit (4 MiB by default) once base64-encoded. Pure:
no Locust import.
"""

from __future__ import annotations

import base64
import functools
import json
import random
import uuid
from dataclasses import dataclass

# The largest raw attachment: base64 (4/3) plus the document fits a 4 MiB body with room.
MAX_ATTACHMENT_BYTES = 2_500_000
BODY_ROOM_BYTES = 8 * 1024  # the document around the attachment: reference, records, names
SMALL_ATTACHMENT_BYTES = (256, 8 * 1024)
INLINE_SHARE = 0.6  # of the claim-check threshold, raw: base64 stays at 0.8 of it
CLAIM_CHECK_SHARE = 0.8  # raw: base64 is 1.07 × the threshold, past it
JOB_TYPE = "import"
CUSTOMERS = 5  # customers per partner user
RECORDS_PER_JOB = (1, 5)
WORK_SECONDS = (0.05, 0.5)  # the sample handler's simulated work per job


@dataclass(frozen=True)
class SizeClass:
    name: str
    low: int  # raw attachment bytes, inclusive
    high: int

    def draw(self, rng: random.Random) -> int:
        """A size in the class, rounded up to a multiple of 3 bytes (whole base64 quanta)."""
        size = rng.randint(self.low, self.high)
        return size + (-size) % 3


# Share of jobs per class (of 100): most partners send small files, a few send large ones.
SIZE_CLASS_WEIGHTS: dict[str, int] = {"inline-small": 55, "inline-large": 25, "claim-check": 12, "over-queue-limit": 8}


@dataclass(frozen=True)
class AttachmentSizes:
    """The stage's limits that decide how an attachment travels, and the classes they make."""

    claim_check_bytes: int
    queue_limit_bytes: int
    max_body_bytes: int = 4 * 1024 * 1024

    @property
    def max_attachment_bytes(self) -> int:
        return min(MAX_ATTACHMENT_BYTES, (self.max_body_bytes - BODY_ROOM_BYTES) * 3 // 4)

    def classes(self) -> dict[str, SizeClass]:
        small_low, small_high = SMALL_ATTACHMENT_BYTES
        inline_high = max(small_high, int(self.claim_check_bytes * INLINE_SHARE))
        claim_low = int(self.claim_check_bytes * CLAIM_CHECK_SHARE)
        over_low = max(self.queue_limit_bytes, claim_low) + 1
        top = max(self.max_attachment_bytes, over_low)
        top -= top % 3  # sizes round up to whole base64 quanta: never past the top
        return {
            "inline-small": SizeClass("inline-small", small_low, small_high),
            "inline-large": SizeClass("inline-large", small_high, inline_high),
            "claim-check": SizeClass("claim-check", claim_low, over_low - 1),
            "over-queue-limit": SizeClass("over-queue-limit", over_low, top),
        }


EMPTY_CONTENT = b'"content_base64":""'


@functools.lru_cache(maxsize=1)
def filler_base64(max_bytes: int) -> bytes:
    """Attachment content, once per process: random bytes, base64. A job takes a prefix (a
    multiple of 3 bytes is a multiple of 4 characters, valid base64 on its own)."""
    return base64.b64encode(random.Random(max_bytes).randbytes(max_bytes + 3))


@dataclass(frozen=True)
class PlannedJob:
    """One submission: its body, its size class (the request's name in the reports) and the
    attachment's raw size."""

    body: bytes
    size_class: str
    attachment_bytes: int


class PartnerJobTraffic:
    """One partner user's submissions: a unique reference each (a repeated one is a 409), its own
    customers, records the sample handler inserts, one attachment of the asked class."""

    def __init__(self, rng: random.Random, sizes: AttachmentSizes):
        self.rng = rng
        self.sizes = sizes
        self.classes = sizes.classes()
        self.partner = uuid.uuid4().hex[:12]  # references stay unique across runs, seeded or not
        self.serial = 0

    def job(self, size_class: str) -> PlannedJob:
        rng = self.rng
        self.serial += 1
        size = self.classes[size_class].draw(rng)
        records = [{"id": f"r{n}", "name": f"record {n}"} for n in range(rng.randint(*RECORDS_PER_JOB))]
        document = {
            "reference": f"load-{self.partner}-{self.serial}",
            "customer": f"customer-{self.partner}-{rng.randrange(CUSTOMERS)}",
            "type": JOB_TYPE,
            "data": {"records": records, "work_seconds": round(rng.uniform(*WORK_SECONDS), 3)},
            "attachments": [
                {"name": f"{size_class}.bin", "content_type": "application/octet-stream", "content_base64": ""}
            ],
        }
        # Spliced in rather than serialised: base64 needs no JSON escaping, and building megabytes
        # in the generator's event loop would delay every other user's slot.
        head, tail = json.dumps(document, separators=(",", ":")).encode().split(EMPTY_CONTENT)
        content = b'"content_base64":"' + filler_base64(self.sizes.max_attachment_bytes)[: 4 * size // 3] + b'"'
        return PlannedJob(head + content + tail, size_class, size)
