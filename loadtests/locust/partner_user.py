"""The base of Locust users that submit partner jobs (``POST /jobs``) instead of webhooks.

Paced and recorded by the same harness as the webhook users: the open-model schedule, latency
from the intended start, the 202's ``id`` (the job id) kept for the follow-up. A request's name
in the reports is ``jobs <size class>``, so the 202 latency is broken down by attachment size.
Every submission is a valid job with its own reference: any 4xx is an error.
"""

from __future__ import annotations

import time

from locust import FastHttpUser

from loadtests.locust.harness import HARNESS, paced
from loadtests.model.jobs_traffic import AttachmentSizes, PartnerJobTraffic
from loadtests.report.measurements import is_ack

JOBS_PATH = "/jobs"
REQUEST_PREFIX = "jobs "  # + size class: the key the reports break the 202 latency down by


class PartnerJobsUser(FastHttpUser):
    """Pace on the schedule, submit one job of a size class, let the harness record the answer."""

    abstract = True
    network_timeout = 30.0  # API Gateway's integration timeout is 29 s
    connection_timeout = 5.0
    wait_time = paced

    def on_start(self) -> None:
        options = HARNESS.options
        sizes = AttachmentSizes(options.claim_check_bytes, options.max_body_bytes, options.max_request_bytes)
        self.jobs = PartnerJobTraffic(HARNESS.user_rng(), sizes)
        self.token_placement = HARNESS.token_placement()
        self.last_start: float | None = None

    def submit(self, size_class: str) -> None:
        job = self.jobs.job(size_class)  # built before the slot: generating 2 MB is not the target's time
        attempt = HARNESS.pace()
        token = HARNESS.token()
        headers = {"Content-Type": "application/json", **self.token_placement.headers(token)}
        attempt.sent = self.last_start = time.perf_counter()
        HARNESS.measurements.request_started(attempt)
        with self.client.post(
            self.token_placement.path(JOBS_PATH, token),
            data=job.body,  # type: ignore[arg-type]  # Locust documents bytes as a body; its annotation omits them
            headers=headers,
            catch_response=True,
            name=REQUEST_PREFIX + job.size_class,
            context={"hookstack_attempt": attempt},
        ) as response:
            if is_ack(response.status_code):
                response.success()
            elif response.status_code:
                response.failure(f"HTTP {response.status_code}")
