"""Claim check: bodies too large for the queue live in S3; the message carries a pointer."""

from __future__ import annotations

import hashlib
from typing import Any

from handlers.contract.message import ClaimCheck
from handlers.errors import ClaimCheckError

KEY_PREFIX = "payloads/"


class PayloadStore:
    def __init__(self, client: Any, bucket: str):
        self._client = client
        self._bucket = bucket

    def put(self, tenant: str, event_id: str, body: bytes) -> ClaimCheck:
        # Keyed by event id: a provider retry overwrites the same object with the same bytes.
        key = f"{KEY_PREFIX}{tenant}/{event_id}.json"
        digest = hashlib.sha256(body).hexdigest()
        self._client.put_object(
            Bucket=self._bucket, Key=key, Body=body, ContentType="application/json", Metadata={"sha256": digest}
        )
        return ClaimCheck(bucket=self._bucket, key=key, bytes=len(body), sha256=digest)

    def get(self, claim: ClaimCheck) -> bytes:
        try:
            response = self._client.get_object(Bucket=claim.bucket, Key=claim.key)
        except Exception as error:
            code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NoSuchBucket"):
                raise ClaimCheckError(f"claim-checked body s3://{claim.bucket}/{claim.key} is gone") from error
            raise  # throttling, 5xx, network: transient
        body = response["Body"].read()
        if len(body) != claim.bytes or hashlib.sha256(body).hexdigest() != claim.sha256:
            raise ClaimCheckError(f"claim-checked body s3://{claim.bucket}/{claim.key} does not match its sha256")
        return body
