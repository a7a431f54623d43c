"""What the partner simulator records, as the control API returns it and the client reads it.

Every record carries ``seq`` (its order of arrival within its API, from 1), ``at_ns`` (monotonic
nanoseconds since the partner started: for order and spacing, never a wall clock) and
``received_at`` (epoch milliseconds, for people). A log keeps at most ``MAX_RECORDS`` entries per
API and counts what it dropped, so a long run cannot grow without bound and a check over a
truncated log can tell.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

ApiName = Literal["callbacks", "accounting", "payments", "trickle"]
API_NAMES: tuple[ApiName, ...] = ("callbacks", "accounting", "payments", "trickle")
MAX_RECORDS = 100_000

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Moment:
    """When a request arrived, on both clocks."""

    at_ns: int
    received_at: int  # epoch ms


class PartnerClock:
    """Monotonic nanoseconds since the partner started, and the wall clock beside them."""

    def __init__(self) -> None:
        self._start_ns = time.monotonic_ns()

    def now(self) -> Moment:
        return Moment(time.monotonic_ns() - self._start_ns, int(time.time() * 1000))


class RecordLog(Generic[R]):
    """An API's records in arrival order, bounded (the oldest go first, counted in ``dropped``)."""

    def __init__(self, limit: int = MAX_RECORDS) -> None:
        self._entries: deque[R] = deque(maxlen=limit)
        self._seq = 0
        self.dropped = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def append(self, record: R) -> None:
        if len(self._entries) == self._entries.maxlen:
            self.dropped += 1
        self._entries.append(record)

    def __iter__(self) -> Iterator[R]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


class PartnerRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- callbacks ------------------------------------------------------------------------------------


class CallbackRecord(PartnerRecord):
    """One request to ``POST /callbacks/{tenant}``, verified or not, with what the partner answered."""

    seq: int
    at_ns: int
    received_at: int
    tenant: str
    webhook_id: str | None
    webhook_timestamp: str | None
    # As received, so a test can verify the callback again with any Standard Webhooks library.
    webhook_signature: str | None = None
    verified: bool
    reason: str | None  # why it did not verify; None when it did
    status: int
    body: str  # the raw body as UTF-8 (undecodable bytes replaced)


class CallbackDelivery(PartnerRecord):
    """Every attempt of one ``webhook-id`` for one tenant: ``delivered`` when an attempt that
    verified was answered 2xx (the sender's work is done: "arrived once in effect")."""

    tenant: str
    webhook_id: str
    attempts: int
    verified_attempts: int
    delivered: bool
    first_seq: int
    delivered_seq: int | None  # the attempt that delivered it


class CallbackRecords(PartnerRecord):
    callbacks: list[CallbackRecord]
    deliveries: list[CallbackDelivery]  # by first arrival
    dropped: int


def callback_deliveries(records: list[CallbackRecord]) -> list[CallbackDelivery]:
    """The dedup view: attempts grouped by (tenant, webhook-id), in order of first arrival.
    Requests without a ``webhook-id`` are not deliveries of anything and are left out."""
    grouped: dict[tuple[str, str], list[CallbackRecord]] = {}
    for record in records:
        if record.webhook_id:
            grouped.setdefault((record.tenant, record.webhook_id), []).append(record)
    deliveries = []
    for (tenant, webhook_id), attempts in grouped.items():
        delivering = next((a for a in attempts if a.verified and 200 <= a.status < 300), None)
        deliveries.append(
            CallbackDelivery(
                tenant=tenant,
                webhook_id=webhook_id,
                attempts=len(attempts),
                verified_attempts=sum(1 for a in attempts if a.verified),
                delivered=delivering is not None,
                first_seq=attempts[0].seq,
                delivered_seq=delivering.seq if delivering is not None else None,
            )
        )
    return deliveries


# --- accounting and payments ----------------------------------------------------------------------


class RequestRecord(PartnerRecord):
    """One request to an API with effects (accounting, payments), whatever it was answered."""

    seq: int
    at_ns: int
    received_at: int
    method: str
    path: str
    status: int
    idempotency_key: str | None
    replayed: bool  # answered from the idempotency store: no effect this time
    fault: str | None  # "outage" or "error" when an injected fault answered (or followed) it


class Booking(PartnerRecord):
    """One invoice booked: once per Idempotency-Key, however often the key was presented."""

    booking_id: str
    seq: int
    at_ns: int
    received_at: int
    idempotency_key: str
    invoice: dict[str, Any]
    requests: int  # requests that presented this key and this body (1: never retried)


class AccountingRecords(PartnerRecord):
    bookings: list[Booking]
    requests: list[RequestRecord]
    dropped: int


class Charge(PartnerRecord):
    charge_id: str
    seq: int
    at_ns: int
    received_at: int
    amount: int  # minor units
    currency: str
    reference: str | None
    refunded: int  # minor units refunded so far
    idempotency_key: str | None


class Refund(PartnerRecord):
    refund_id: str
    charge_id: str
    seq: int
    at_ns: int
    received_at: int
    amount: int
    idempotency_key: str | None


class PaymentRecords(PartnerRecord):
    charges: list[Charge]
    refunds: list[Refund]
    requests: list[RequestRecord]
    dropped: int


# --- trickle --------------------------------------------------------------------------------------


class TrickleRecord(PartnerRecord):
    """One request the trickle API accepted (past the rate limit, its data taken), in order of
    acceptance; ``status`` is what it was answered: 200, or an injected error after the effect."""

    seq: int
    at_ns: int
    received_at: int
    method: str
    path: str
    group: str  # the X-Group-Key header ("" when absent)
    body: str
    status: int
    rate_limit_per_s: float | None  # the limit in force when it was accepted
    burst: int


class TrickleRecords(PartnerRecord):
    accepted: list[TrickleRecord]
    rate_limited: int  # answered 429
    failed: int  # answered by an injected outage or error
    dropped: int

    def by_group(self) -> dict[str, list[TrickleRecord]]:
        """Accepted records per group key, each list in order of acceptance."""
        groups: dict[str, list[TrickleRecord]] = {}
        for record in self.accepted:
            groups.setdefault(record.group, []).append(record)
        return groups


def most_in_any_window(records: list[TrickleRecord], window_s: float = 1.0) -> int:
    """The most accepted records inside any half-open window ``[t, t + window_s)``: what a check
    that the rate limit held compares with ``burst + rate_limit_per_s * window_s``."""
    window_ns = int(window_s * 1e9)
    times = sorted(record.at_ns for record in records)
    most = 0
    start = 0
    for end, at_ns in enumerate(times):
        while at_ns - times[start] >= window_ns:
            start += 1
        most = max(most, end - start + 1)
    return most


def out_of_order(
    groups: Mapping[str, list[TrickleRecord]], written_at: Callable[[TrickleRecord], float]
) -> dict[str, int]:
    """Per group (only those with any), the records accepted behind a later-written one of their
    group: ``written_at`` gives a record's place in its group's write order (e.g. the item's
    ``n``), each group's records are in order of acceptance (``TrickleRecords.by_group``)."""
    behind: dict[str, int] = {}
    for group, records in groups.items():
        latest: float | None = None
        for record in records:
            position = written_at(record)
            if latest is not None and position < latest:
                behind[group] = behind.get(group, 0) + 1
            latest = position if latest is None else max(latest, position)
    return behind
