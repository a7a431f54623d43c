"""The job a handler is called with: ``function(job)``, returning a JSON object (a dict)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.jobs.contract import JobMessage
from stack.jobs_consumer.attachments import Attachment
from stack.jobs_consumer.stage import JobsStage, StageClients


class JobResourceMissing(KeyError):
    """The stage has no output of that key (its template does not render it)."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0])


@dataclass(frozen=True)
class Job:
    job_id: str
    tenant: str
    reference: str  # the partner's own reference for the job
    customer: str
    type: str
    data: dict[str, Any]
    attachments: tuple[Attachment, ...]
    submitted_at_ms: int
    resources: Mapping[str, str]  # the stage's outputs, by output key (read-only)
    _clients: StageClients = field(repr=False)

    @classmethod
    def from_message(cls, message: JobMessage, attachments: tuple[Attachment, ...], stage: JobsStage) -> Job:
        return cls(
            job_id=message.job_id,
            tenant=message.tenant,
            reference=message.reference,
            customer=message.customer,
            type=message.type,
            data=message.data,
            attachments=attachments,
            submitted_at_ms=message.submitted_at_ms,
            resources=stage.resources,
            _clients=stage.clients,
        )

    def client(self, service: str) -> Any:
        """A boto3 client for the stage's target (shared between jobs: do not close it)."""
        return self._clients.client(service)

    def resource(self, key: str) -> str:
        """One output of the stage's template, e.g. ``job.resource("CustomerRecordsTable")``."""
        try:
            return self.resources[key]
        except KeyError:
            known = ", ".join(sorted(self.resources)) or "none"
            raise JobResourceMissing(f"the stage has no output {key!r} (outputs: {known})") from None
