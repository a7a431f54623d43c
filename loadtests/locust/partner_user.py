"""The base of Locust users that submit partner jobs (``POST /jobs``) instead of webhooks.

Paced and recorded by the same harness as the webhook users: the open-model schedule, latency
from the intended start, the 202's ``id`` (the job id) kept for the follow-up. A request's name
in the reports is ``jobs <size class>``, so the 202 latency is broken down by attachment size.
Every submission is a valid job with its own reference: any 4xx is an error.
"""

from __future__ import annotations

from loadtests.locust.harness import HARNESS, SubmittingUser
from loadtests.model.jobs_traffic import AttachmentSizes, PartnerJobTraffic

JOBS_PATH = "/jobs"
REQUEST_PREFIX = "jobs "  # + size class: the key the reports break the 202 latency down by


class PartnerJobsUser(SubmittingUser):
    """Pace on the schedule, submit one job of a size class, let the harness record the answer."""

    abstract = True

    def on_start(self) -> None:
        options = HARNESS.options
        sizes = AttachmentSizes(options.claim_check_bytes, options.max_body_bytes, options.max_request_bytes)
        super().on_start()
        self.jobs = PartnerJobTraffic(HARNESS.user_rng(), sizes)

    def submit(self, size_class: str) -> None:
        job = self.jobs.job(size_class)  # built before the slot: generating 2 MB is not the target's time
        self.post_submission(JOBS_PATH, job.body, REQUEST_PREFIX + job.size_class)
