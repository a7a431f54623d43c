"""After a ``partner-jobs`` load: poll each accepted job through ``GET /jobs/{id}``, as a partner
does, until every one is final — bounded by a timeout, and ended early once nothing is left
queued to finish the rest (``QUIET_PASSES`` passes in a row with the jobs and response queues
empty). A pass reads only the jobs not yet final, a few at a time, passes at least
``PASS_INTERVAL_S`` apart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from loadtests.report.jobs import NOT_FOUND, FollowedJob, FollowUp
from stack.clients.token_placement import TokenPlacement
from stack.clients.webhook_client import ApiClient
from stack.errors import HookstackError

READERS = 4  # concurrent GETs: a partner's polling, not a second load
PASS_INTERVAL_S = 1.0
QUIET_PASSES = 10
READ_TIMEOUT_S = 10.0


class JobReader:
    """``GET /jobs/{id}`` from a few threads, one keep-alive connection each."""

    def __init__(self, api_url: str, token: str, placement: TokenPlacement):
        self._api_url, self._token, self._placement = api_url, token, placement
        self._local = threading.local()
        self._clients: list[ApiClient] = []
        self._lock = threading.Lock()

    def _client(self) -> ApiClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = ApiClient(self._api_url, self._token, self._placement, READ_TIMEOUT_S)
            with self._lock:
                self._clients.append(client)
        return client

    def read(self, job_id: str) -> FollowedJob | None:
        """The job as the API shows it now; None when no answer came (read again next pass)."""
        try:
            answer = self._client().request("GET", f"/jobs/{job_id}")
        except (HookstackError, OSError):
            return None
        if answer.status == 404:
            return FollowedJob(job_id, NOT_FOUND)
        if answer.status != 200:
            return None
        try:
            document = answer.json()
        except ValueError:
            return None
        return FollowedJob.from_document(job_id, document, time.time() * 1000)

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()


def follow_jobs(
    job_ids: Iterable[str],
    read: Callable[[str], FollowedJob | None],
    *,
    messages_left: Callable[[], int],
    timeout_s: float,
    on_pass: Callable[[dict[str, FollowedJob]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> FollowUp:
    """Read every job until all are final, the timeout passes, or the queues stay empty."""
    jobs: dict[str, FollowedJob] = {job_id: FollowedJob(job_id) for job_id in job_ids}
    started = clock()
    deadline = started + timeout_s
    passes = quiet = 0
    timed_out = False
    left = messages_left()
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        while True:
            pass_started = clock()
            # A job read NOT_FOUND is read again: its 202 may have come before a read sees the item.
            pending = [job_id for job_id, job in jobs.items() if not job.final]
            for job_id, job in zip(pending, pool.map(read, pending), strict=True):
                if job is not None:
                    jobs[job_id] = job
            passes += 1
            left = messages_left()
            if on_pass is not None:
                on_pass(jobs)
            if all(job.final for job in jobs.values()):
                break
            quiet = quiet + 1 if left == 0 else 0
            if quiet >= QUIET_PASSES:
                break
            if clock() >= deadline:
                timed_out = True
                break
            sleep(max(0.0, min(PASS_INTERVAL_S - (clock() - pass_started), deadline - clock())))
    return FollowUp(jobs, left, clock() - started, timed_out, passes)
