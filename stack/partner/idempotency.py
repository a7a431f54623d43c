"""Idempotency keys as payment and accounting APIs keep them: the first request with a key has its
effect and its answer stored; a retry with the same key and the same body gets that answer again
(``Idempotent-Replayed: true``) and no effect; the same key with another body is refused 422.

Only successful answers are stored: a request that failed (an injected error before its effect)
left nothing behind, so its retry runs afresh. The store is bounded like the records: past
``MAX_RECORDS`` keys the oldest are forgotten.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from stack.embedded.gateway.http_server import HttpRequest, HttpResponse
from stack.partner.answers import JSON_HEADERS, Refused, failure_response, json_response
from stack.partner.faults import FaultCause, FaultDecision
from stack.partner.records import MAX_RECORDS, Moment, RecordLog, RequestRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    fingerprint: str  # sha256 of the request body
    status: int
    body: bytes
    effect_id: str  # what the first request created (booking, charge or refund id)


class KeyReused(Exception):
    """The key was used before with a different body."""


class IdempotencyStore:
    def __init__(self, limit: int = MAX_RECORDS) -> None:
        self._answers: OrderedDict[str, StoredAnswer] = OrderedDict()
        self._limit = limit

    @staticmethod
    def fingerprint(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    def lookup(self, key: str, body: bytes) -> StoredAnswer | None:
        """The stored answer for a retry of ``key``; None for a first use. Raises
        :class:`KeyReused` when the key came before with another body."""
        stored = self._answers.get(key)
        if stored is None:
            return None
        if stored.fingerprint != self.fingerprint(body):
            raise KeyReused(key)
        return stored

    def store(self, key: str, body: bytes, status: int, answer: bytes, effect_id: str) -> None:
        self._answers[key] = StoredAnswer(self.fingerprint(body), status, answer, effect_id)
        while len(self._answers) > self._limit:
            self._answers.popitem(last=False)

    def clear(self) -> None:
        self._answers.clear()


@dataclass(frozen=True, slots=True)
class Effect:
    """What an API's first request with a key created: its answer and the id it made."""

    status: int
    payload: dict[str, object]
    effect_id: str


@dataclass(frozen=True, slots=True)
class Outcome:
    response: HttpResponse
    replayed: bool
    fault: FaultCause | None


def serve_idempotent(
    store: IdempotencyStore,
    key: str | None,
    body: bytes,
    decision: FaultDecision,
    effect: Callable[[], Effect],
    on_replay: Callable[[StoredAnswer], None] = lambda stored: None,
) -> Outcome:
    """One request to an API with effects that got past a failure before its effect (see
    :func:`serve_with_faults`), under its idempotency key (None: the request has none, and every
    request has its effect). ``effect`` may raise :class:`Refused` (nothing happened, nothing
    stored); ``on_replay`` hears of each retry answered from the store."""
    stored = None
    if key is not None:
        try:
            stored = store.lookup(key, body)
        except KeyReused:
            raise Refused(422, f"{IDEMPOTENCY_HEADER} {key!r} was used with a different body") from None
    if stored is not None:
        on_replay(stored)
        response = HttpResponse(stored.status, [*JSON_HEADERS, (REPLAYED_HEADER, "true")], stored.body)
        replayed = True
    else:
        done = effect()
        response = json_response(done.status, done.payload)
        if key is not None:
            store.store(key, body, done.status, response.body, done.effect_id)
        replayed = False
    if decision.fails_after_effect:
        return Outcome(failure_response(decision), replayed=replayed, fault=decision.cause)
    return Outcome(response, replayed=replayed, fault=None)


def serve_with_faults(decision: FaultDecision, serve: Callable[[], Outcome]) -> Outcome:
    """A failure before the effect answers at once (nothing is read or changed); else ``serve``,
    its refusals answered as they say."""
    if decision.fails_before_effect:
        return Outcome(failure_response(decision), replayed=False, fault=decision.cause)
    try:
        return serve()
    except Refused as refusal:
        return Outcome(refusal.response(), replayed=False, fault=None)


def idempotency_key(request: HttpRequest, *, required: bool) -> str | None:
    """The request's Idempotency-Key, checked; :class:`Refused` 400 when required and missing."""
    key = (request.header(IDEMPOTENCY_HEADER) or "").strip()
    if not key:
        if required:
            raise Refused(400, f"the {IDEMPOTENCY_HEADER} header is required")
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise Refused(400, f"the {IDEMPOTENCY_HEADER} header is longer than {MAX_KEY_LENGTH} characters")
    return key


def record_request(log: RecordLog[RequestRecord], request: HttpRequest, moment: Moment, outcome: Outcome) -> None:
    log.append(
        RequestRecord(
            seq=log.next_seq(),
            at_ns=moment.at_ns,
            received_at=moment.received_at,
            method=request.method,
            path=request.path,
            status=outcome.response.status,
            idempotency_key=request.header(IDEMPOTENCY_HEADER),
            replayed=outcome.replayed,
            fault=outcome.fault,
        )
    )
