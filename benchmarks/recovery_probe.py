"""A slow, steady probe beside a load run: one signed delivery every ``interval_s`` on its own
keep-alive connection, each answer recorded with its time — how the stack answers someone else
while the load runs, and how soon it answers normally after. Not a load generator (a few
requests a second); its acknowledged events are read back like the load's."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from stack.clients.providers.shopify import shopify_delivery
from stack.clients.webhook_client import ApiClient
from stack.errors import HookstackError
from stack.percentiles import percentile

# The probe never runs longer than this, whatever the caller forgets.
MAX_PROBE_S = 3600.0
# Answers read back to a terminal status at most this long after the probe stops.
READ_BACK_S = 600.0
TERMINAL = {"PROCESSED", "DEAD_LETTERED"}


@dataclass(frozen=True)
class ProbeAnswer:
    epoch: float
    status: int | None  # None: no HTTP answer (connection refused, reset, timed out)
    latency_ms: float
    event_id: str | None


@dataclass
class RecoveryProbe:
    api_url: str
    token: str
    shopify_secret: str
    interval_s: float = 0.2
    timeout_s: float = 35.0  # past the integration timeout (29 s): a 504 is an answer, not a hang
    answers: list[ProbeAnswer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RecoveryProbe:
        self._thread = threading.Thread(target=self._run, name="recovery-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)

    def _run(self) -> None:
        client = ApiClient(self.api_url, self.token, timeout=self.timeout_s)
        deadline = time.monotonic() + MAX_PROBE_S
        next_at = time.monotonic()
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                delivery = shopify_delivery("orders/create", self.shopify_secret)
                started, epoch = time.perf_counter(), time.time()
                try:
                    response = client.post_webhook("shopify", delivery.body, delivery.headers)
                    status: int | None = response.status
                    event_id = response.json().get("id") if response.status == 202 else None
                except (HookstackError, OSError, ValueError):
                    status, event_id = None, None
                    client.close()
                self.answers.append(ProbeAnswer(epoch, status, (time.perf_counter() - started) * 1000, event_id))
                next_at += self.interval_s
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            client.close()

    def unprocessed(self) -> list[str]:
        """Acknowledged event ids not PROCESSED or DEAD_LETTERED within READ_BACK_S."""
        pending = {answer.event_id for answer in self.answers if answer.event_id}
        client = ApiClient(self.api_url, self.token)
        deadline = time.monotonic() + READ_BACK_S
        try:
            while pending and time.monotonic() < deadline:
                for event_id in sorted(pending):
                    response = client.event_status(event_id)
                    if response.status == 200 and response.json().get("status") in TERMINAL:
                        pending.discard(event_id)
                if pending:
                    time.sleep(2.0)
        finally:
            client.close()
        return sorted(pending)


def recovered_after(
    answers: list[ProbeAnswer], since_epoch: float, normal_ms: float, hold_s: float = 10.0
) -> float | None:
    """Seconds after ``since_epoch`` from which (a normal answer first), for at least ``hold_s``,
    every probe answer was a 202 and their 90th percentile within ``normal_ms`` (a shared machine has stray slow answers
    even when quiet); None if that never happened."""
    later = [answer for answer in answers if answer.epoch >= since_epoch]
    for index, first in enumerate(later):
        if later[-1].epoch - first.epoch < hold_s * 0.8:
            return None  # not enough answers left to tell
        # A sparse window (answers seconds apart) is slow answers: its p90 says so.
        window = [a for a in later[index:] if a.epoch - first.epoch <= hold_s]
        p90 = percentile([a.latency_ms for a in window], 90)
        normal_start = first.status == 202 and first.latency_ms <= normal_ms
        if normal_start and all(a.status == 202 for a in window) and p90 is not None and p90 <= normal_ms:
            return max(0.0, first.epoch - since_epoch)
    return None


def summarize(answers: list[ProbeAnswer], since: float, until: float) -> dict[str, Any]:
    """Statuses and latency percentiles (nearest rank) of the answers sent in [since, until)."""
    chosen = [answer for answer in answers if since <= answer.epoch < until]
    statuses: dict[str, int] = {}
    for answer in chosen:
        key = str(answer.status) if answer.status is not None else "no answer"
        statuses[key] = statuses.get(key, 0) + 1
    latencies = [answer.latency_ms for answer in chosen if answer.status == 202]

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "requests": len(chosen),
        "statuses": statuses,
        "p50_ms": rounded(percentile(latencies, 50)),
        "p99_ms": rounded(percentile(latencies, 99)),
        "max_ms": rounded(max(latencies, default=None)),
    }
