"""An accounting API: ``POST /accounting/invoices`` books an invoice (any JSON object), once per
``Idempotency-Key`` (required). The first request books it and answers 201 ``{"booking_id",
"invoice"}``; a retry with the same key and body gets the same answer with ``Idempotent-Replayed:
true`` and books nothing; the same key with another body is refused 422 (``idempotency.py``).
"""

from __future__ import annotations

from collections import OrderedDict

from stack.embedded.gateway.http_server import HttpRequest, HttpResponse
from stack.partner.answers import json_object
from stack.partner.faults import FaultDecision
from stack.partner.idempotency import (
    Effect,
    IdempotencyStore,
    Outcome,
    StoredAnswer,
    idempotency_key,
    record_request,
    serve_idempotent,
    serve_with_faults,
)
from stack.partner.records import MAX_RECORDS, AccountingRecords, Booking, Moment, RecordLog, RequestRecord


class Accounting:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: RecordLog[RequestRecord] = RecordLog()
        self._store = IdempotencyStore()
        self._bookings: OrderedDict[str, Booking] = OrderedDict()  # by booking id, in booking order
        self._booked = 0
        self._dropped = 0

    def serve(self, request: HttpRequest, moment: Moment, decision: FaultDecision) -> HttpResponse:
        def book() -> Outcome:
            key = idempotency_key(request, required=True)
            assert key is not None
            invoice = json_object(request)
            return serve_idempotent(
                self._store, key, request.body, decision, lambda: self._book(key, invoice, moment), self._retried
            )

        outcome = serve_with_faults(decision, book)
        record_request(self.requests, request, moment, outcome)
        return outcome.response

    def _book(self, key: str, invoice: dict[str, object], moment: Moment) -> Effect:
        self._booked += 1
        booking_id = f"bk_{self._booked:06d}"
        self._bookings[booking_id] = Booking(
            booking_id=booking_id,
            seq=self._booked,
            at_ns=moment.at_ns,
            received_at=moment.received_at,
            idempotency_key=key,
            invoice=invoice,
            requests=1,
        )
        while len(self._bookings) > MAX_RECORDS:
            self._bookings.popitem(last=False)
            self._dropped += 1
        return Effect(201, {"booking_id": booking_id, "invoice": invoice}, booking_id)

    def _retried(self, stored: StoredAnswer) -> None:
        booking = self._bookings.get(stored.effect_id)
        if booking is not None:
            self._bookings[stored.effect_id] = booking.model_copy(update={"requests": booking.requests + 1})

    def records(self) -> AccountingRecords:
        return AccountingRecords(
            bookings=list(self._bookings.values()),
            requests=list(self.requests),
            dropped=self.requests.dropped + self._dropped,
        )
