"""The ``partner-jobs`` figures: what became of every accepted job, from the follow-up's last read
of ``GET /jobs/{id}``. Pure: the follow-up (``loadtests.jobs_follow``) hands in what it read.

Every accepted job (a 202 with an id) ends in exactly one of:

- ``succeeded`` / ``failed``: its final status;
- ``unfinished``: it has a job item, not final when the follow-up ended, while a message was
  still left to finish it (jobs queue, visible or in flight, its DLQ, the response queue);
- ``lost``: no job item (``GET`` answered 404), or not final with no message left to run it. A
  message carries no job id one can read without receiving it, so per run: the not-final jobs
  beyond the messages left are lost (the jobs drill's reconciler counts the same way).

Submit → final latency is ``updated_at − submitted_at`` of the job record (both stamped by the
stack: the intake, then the consumer's report, in ms); the follow-up's own observation (first
read that showed the final status) is given apart: polling starts when the load ends, so for
jobs that finished during the load it measures the load's rest, not the job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers.jobs.contract import JobStatus
from loadtests.report import latency
from stack.percentiles import percentiles

FINAL_PERCENTILES = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p999": 99.9, "max": 100}
NOT_FOUND = "NOT_FOUND"  # GET /jobs/{id} answered 404: the stage holds no such job
FINAL_BASIS = "updated_at - submitted_at of each job's record (intake, then the consumer's final report)"
# The follow-up starts when the load ends: for jobs final before then, this is mostly the load's rest.
OBSERVED_BASIS = "first GET /jobs/{id} showing the final status - submitted_at (polling starts after the load)"
REQUEST_PREFIX = "jobs "  # the request names of the partner user: "jobs <size class>"
FINAL_BINS = 40


def epoch_ms(iso: Any) -> float | None:
    """Milliseconds since the epoch of the query's ISO timestamps (``…T12:00:00.123Z``)."""
    if not isinstance(iso, str):
        return None
    try:
        return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return None


@dataclass(frozen=True)
class FollowedJob:
    """The last read of one accepted job: its status (``NOT_FOUND`` for a 404, None while no read
    answered), its record's timestamps, when the follow-up first saw it final (epoch ms)."""

    job_id: str
    status: str | None = None
    submitted_ms: float | None = None
    updated_ms: float | None = None
    observed_final_ms: float | None = None

    @property
    def final(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @classmethod
    def from_document(cls, job_id: str, document: Mapping[str, Any], seen_ms: float) -> FollowedJob:
        status = str(document["status"]) if document.get("status") is not None else None
        final = status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
        submitted, updated = epoch_ms(document.get("submitted_at")), epoch_ms(document.get("updated_at"))
        return cls(job_id, status, submitted, updated, seen_ms if final else None)


@dataclass(frozen=True)
class FollowUp:
    """What the follow-up read: the last state of each accepted job and the stage at its end."""

    jobs: Mapping[str, FollowedJob]
    messages_left: int  # jobs queue (visible + in flight) + jobs DLQ when it ended
    waited_s: float
    timed_out: bool
    passes: int


def _durations(values: Iterable[float]) -> dict[str, float | None]:
    return {f"{name}_ms": value for name, value in percentiles(list(values), FINAL_PERCENTILES, digits=3).items()}


def _final_ms(jobs: Iterable[FollowedJob]) -> list[float]:
    return [
        max(0.0, job.updated_ms - job.submitted_ms)
        for job in jobs
        if job.final and job.updated_ms is not None and job.submitted_ms is not None
    ]


def ack_by_size_class(by_key: Mapping[str, Any], prefix: str = REQUEST_PREFIX) -> dict[str, Any]:
    """The 202 latency per attachment size class (per whatever follows ``prefix`` in the request
    names: invoice-batch's payment methods), from the run's per-request-name figures."""
    return {
        key.removeprefix(prefix): (figures or {}).get("ack")
        for key, figures in sorted(by_key.items())
        if key.startswith(prefix)
    }


def figures(
    follow: FollowUp | None,
    *,
    accepted_ids: Iterable[str],
    submitted: int,
    status_counts: Mapping[str, int],
    by_key: Mapping[str, Any],
    consumers: int,
    reason: str | None = None,
) -> dict[str, Any]:
    """Summary fields: flat ones the gates and baselines read (``final_p99_ms``, ``succeeded``,
    ``failed``, ``unfinished``, ``lost``, ``jobs_per_s``), and the ``jobs`` block."""
    accepted = sorted(set(accepted_ids))
    refused = {status: n for status, n in sorted(status_counts.items()) if not status.startswith("2")}
    block: dict[str, Any] = {
        "submitted": submitted,
        "accepted": len(accepted),
        "refused_by_status": refused,
        "ack_by_size_class": ack_by_size_class(by_key),
        "consumers": consumers,
    }
    if follow is None:
        empty = {f"final_{name}_ms": None for name in FINAL_PERCENTILES}
        none = {"succeeded": None, "failed": None, "unfinished": None, "lost": None, "jobs_per_s": None}
        return {**empty, **none, "jobs": {**block, "followed": False, "reason": reason or "not followed"}}
    jobs = [follow.jobs.get(job_id) or FollowedJob(job_id) for job_id in accepted]
    succeeded = sum(1 for job in jobs if job.status == JobStatus.SUCCEEDED)
    failed = sum(1 for job in jobs if job.status == JobStatus.FAILED)
    no_item = sum(1 for job in jobs if job.status == NOT_FOUND)
    not_final = len(jobs) - succeeded - failed - no_item
    unfinished = min(not_final, follow.messages_left)
    lost = no_item + not_final - unfinished
    final_ms = _final_ms(jobs)
    observed = [
        job.observed_final_ms - job.submitted_ms
        for job in jobs
        if job.observed_final_ms is not None and job.submitted_ms is not None
    ]
    ends = [job.updated_ms for job in jobs if job.final and job.updated_ms is not None]
    starts = [job.submitted_ms for job in jobs if job.submitted_ms is not None]
    span_s = (max(ends) - min(starts)) / 1000 if ends and starts else 0.0
    final = _durations(final_ms)
    block.update(
        {
            "followed": True,
            "succeeded": succeeded,
            "failed": failed,
            "unfinished": unfinished,
            "lost": lost,
            "lost_no_item": no_item,
            "messages_left": follow.messages_left,
            "final_basis": FINAL_BASIS,
            "final": {"count": len(final_ms), **final},
            "observed_basis": OBSERVED_BASIS,
            "observed": {"count": len(observed), **_durations(observed)},
            "jobs_per_s_basis": "final jobs / (last final updated_at - first submitted_at)",
            "waited_s": round(follow.waited_s, 1),
            "follow_timed_out": follow.timed_out,
            "polls": follow.passes,
        }
    )
    return {
        **{f"final_{name}": value for name, value in final.items()},
        "succeeded": succeeded,
        "failed": failed,
        "unfinished": unfinished,
        "lost": lost,
        "jobs_per_s": round(len(ends) / span_s, 3) if span_s > 0 else None,
        "jobs": block,
    }


def final_bins(follow: FollowUp | None) -> list[list[float]]:
    """The submit → final distribution as log bins, for the report's histogram."""
    if follow is None:
        return []
    return log_bins_ms(_final_ms(follow.jobs.values()))


def log_bins_ms(values: Iterable[float]) -> list[list[float]]:
    """Durations in ms as log bins, for a report's histogram."""
    values = list(values)
    if not values:
        return []
    histogram = latency.new_histogram()
    for value in values:
        latency.record(histogram, value / 1000)
    return latency.log_bins(histogram, FINAL_BINS)
