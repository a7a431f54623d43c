"""The jobs table: one item per job, and one per (tenant, reference) claiming the reference.

The job and its claim are written in one transaction, so a reference is unique per tenant and
no job exists without its claim (or the other way round). A result moves the job's status only
upwards (``status_rank``), so a redelivered or late result never changes a final status.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.jobs.contract import JobResult, JobStatus

KIND_JOB = "job"
KIND_REFERENCE = "reference"


class DuplicateReference(Exception):
    """The tenant already used this reference; ``job_id`` is the job that holds it."""

    def __init__(self, reference: str, job_id: str | None):
        super().__init__(f"reference {reference!r} is already used by job {job_id or 'unknown'}")
        self.reference = reference
        self.job_id = job_id


@dataclass(frozen=True)
class Settled:
    """What applying a result did: ``applied`` False for a stale or repeated result; ``job`` the
    job as stored afterwards either way (None when there is no such job)."""

    applied: bool
    job: dict[str, Any] | None


@dataclass(frozen=True)
class NewJob:
    job_id: str
    tenant: str
    reference: str
    customer: str
    type: str
    attachments: int
    submitted_at_ms: int


def reference_key(tenant: str, reference: str) -> str:
    # "#" cannot appear in a job id, a tenant name or a reference (their patterns exclude it).
    return f"ref#{tenant}#{reference}"


def _cancellation_codes(error: Exception) -> list[str]:
    reasons = (getattr(error, "response", None) or {}).get("CancellationReasons") or []
    return [str(reason.get("Code", "")) for reason in reasons]


def _error_code(error: Exception) -> str:
    return str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))


class JobStore:
    def __init__(self, client: Any, table: str):
        self._client = client
        self._table = table

    def create(self, job: NewJob) -> None:
        """The job (SUBMITTED) and its reference claim, both or neither; DuplicateReference when
        the tenant's reference is taken."""
        item = {
            "id": {"S": job.job_id},
            "kind": {"S": KIND_JOB},
            "tenant": {"S": job.tenant},
            "reference": {"S": job.reference},
            "customer": {"S": job.customer},
            "job_type": {"S": job.type},
            "status": {"S": JobStatus.SUBMITTED.value},
            "status_rank": {"N": str(JobStatus.SUBMITTED.rank)},
            "attachments": {"N": str(job.attachments)},
            "submitted_at": {"N": str(job.submitted_at_ms)},
            "updated_at": {"N": str(job.submitted_at_ms)},
        }
        claim = {
            "id": {"S": reference_key(job.tenant, job.reference)},
            "kind": {"S": KIND_REFERENCE},
            "job_id": {"S": job.job_id},
        }
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(id)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": claim,
                            "ConditionExpression": "attribute_not_exists(id)",
                        }
                    },
                ]
            )
        except Exception as error:
            codes = _cancellation_codes(error)
            if _error_code(error) == "TransactionCanceledException" and codes[1:2] == ["ConditionalCheckFailed"]:
                raise DuplicateReference(job.reference, self.reference_holder(job.tenant, job.reference)) from None
            raise

    def take_back(self, job: NewJob) -> None:
        """Undo ``create`` (the job could not be queued): the job and its claim, both."""
        self._client.transact_write_items(
            TransactItems=[
                {"Delete": {"TableName": self._table, "Key": {"id": {"S": job.job_id}}}},
                {"Delete": {"TableName": self._table, "Key": {"id": {"S": reference_key(job.tenant, job.reference)}}}},
            ]
        )

    def reference_holder(self, tenant: str, reference: str) -> str | None:
        item = self._client.get_item(
            TableName=self._table, Key={"id": {"S": reference_key(tenant, reference)}}, ConsistentRead=True
        ).get("Item")
        return item["job_id"]["S"] if item else None

    def get(self, job_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key={"id": {"S": job_id}}, ConsistentRead=True).get("Item")
        return _job_item(item)

    def apply(self, result: JobResult) -> bool:
        """Move the job to the result's status if that is a higher rank than it has; False when
        the result is stale or repeated (or the job does not exist), which is not an error."""
        return self.settle(result).applied

    def settle(self, result: JobResult) -> Settled:
        """``apply``, and the job as it stands afterwards, from the same write (ALL_NEW when it
        applied, ALL_OLD when the condition refused it): a repeated final result still sees its
        final job."""
        names = {"#status": "status", "#rank": "status_rank", "#updated": "updated_at", "#kind": "kind"}
        values: dict[str, Any] = {
            ":status": {"S": result.status.value},
            ":rank": {"N": str(result.status.rank)},
            ":at": {"N": str(result.at_ms)},
            ":job": {"S": KIND_JOB},
        }
        sets = ["#status = :status", "#rank = :rank", "#updated = :at"]
        for field, value in (
            ("result", json.dumps(result.result, separators=(",", ":")) if result.result is not None else None),
            ("reason", result.reason),
            ("consumer", result.consumer),
        ):
            if value is not None:
                names[f"#{field}"] = field
                values[f":{field}"] = {"S": value}
                sets.append(f"#{field} = :{field}")
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": result.job_id}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(id) AND #kind = :job AND #rank < :rank",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                return Settled(False, _job_item((getattr(error, "response", None) or {}).get("Item")))
            raise
        return Settled(True, _job_item(answer.get("Attributes")))


def _job_item(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not item or item.get("kind", {}).get("S") != KIND_JOB:
        return None
    return {name: _plain(value) for name, value in item.items()}


def _plain(value: Mapping[str, Any]) -> Any:
    if "S" in value:
        return value["S"]
    if "N" in value:
        return int(value["N"])
    if "BOOL" in value:
        return value["BOOL"]
    return None
