"""After a ``partner-jobs`` load: poll each accepted job through ``GET /jobs/{id}``, as a partner
does, until every one is final — bounded by a timeout, and ended early once nothing is left
queued to finish the rest (``QUIET_PASSES`` passes in a row with the jobs and response queues
empty). A pass reads only the jobs not yet final, a few at a time, passes at least
``PASS_INTERVAL_S`` apart. The polling (``ApiPoller``, ``follow_until_final``) serves any
resource read by id until final: ``invoice-batch`` follows its invoices with it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from loadtests.report.jobs import NOT_FOUND, FollowedJob, FollowUp
from stack.clients.token_placement import TokenPlacement
from stack.clients.webhook_client import ApiClient
from stack.errors import HookstackError

READERS = 4  # concurrent GETs: a partner's polling, not a second load
PASS_INTERVAL_S = 1.0
QUIET_PASSES = 10
READ_TIMEOUT_S = 10.0


class ApiPoller:
    """GETs on the stage's API from a few threads, one keep-alive connection each."""

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

    def get(self, path: str) -> tuple[int, Any] | None:
        """(status, the JSON document or None) of ``GET path``; None when no answer came."""
        try:
            answer = self._client().request("GET", path)
        except (HookstackError, OSError):
            return None
        try:
            return answer.status, answer.json()
        except ValueError:
            return answer.status, None

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()


class JobReader(ApiPoller):
    """``GET /jobs/{id}``."""

    def read(self, job_id: str) -> FollowedJob | None:
        """The job as the API shows it now; None when no answer came (read again next pass)."""
        answer = self.get(f"/jobs/{job_id}")
        if answer is None:
            return None
        status, document = answer
        if status == 404:
            return FollowedJob(job_id, NOT_FOUND)
        if status != 200 or not isinstance(document, dict):
            return None
        return FollowedJob.from_document(job_id, document, time.time() * 1000)


class Followed(Protocol):
    @property
    def final(self) -> bool: ...


F = TypeVar("F", bound=Followed)


@dataclass(frozen=True)
class Passes(Generic[F]):
    """The last read of each followed id, and the stage's work left when the polling ended."""

    items: dict[str, F]
    left: int
    waited_s: float
    timed_out: bool
    passes: int


def follow_until_final(
    ids: Iterable[str],
    read: Callable[[str], F | None],
    *,
    unread: Callable[[str], F],
    work_left: Callable[[], int],
    timeout_s: float,
    on_pass: Callable[[dict[str, F]], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Passes[F]:
    """Read every id until all are final, the timeout passes, or no work is left for
    ``QUIET_PASSES`` passes in a row; ``unread`` is an id's state before any read answered."""
    items: dict[str, F] = {item_id: unread(item_id) for item_id in ids}
    started = clock()
    deadline = started + timeout_s
    passes = quiet = 0
    timed_out = False
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        while True:
            pass_started = clock()
            # The work left before the reads: an item not final when read was not final then
            # either, so it was in that work or lost; counted after, an item finishing between
            # its read and the count would look lost.
            left = work_left()
            # An id read NOT_FOUND is read again: its 202 may have come before a read sees the item.
            pending = [item_id for item_id, item in items.items() if not item.final]
            for item_id, item in zip(pending, pool.map(read, pending), strict=True):
                if item is not None:
                    items[item_id] = item
            passes += 1
            if on_pass is not None:
                on_pass(items)
            if all(item.final for item in items.values()):
                break
            quiet = quiet + 1 if left == 0 else 0
            if quiet >= QUIET_PASSES:
                break
            if clock() >= deadline:
                timed_out = True
                break
            sleep(max(0.0, min(PASS_INTERVAL_S - (clock() - pass_started), deadline - clock())))
    return Passes(items, left, clock() - started, timed_out, passes)


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
    done = follow_until_final(
        job_ids,
        read,
        unread=FollowedJob,
        work_left=messages_left,
        timeout_s=timeout_s,
        on_pass=on_pass,
        sleep=sleep,
        clock=clock,
    )
    return FollowUp(done.items, done.left, done.waited_s, done.timed_out, done.passes)
