"""A payment API: charges, and refunds to compensate them.

- ``POST /payments/charges`` ``{"amount": minor units > 0, "currency": "eur", "reference": …?}``
  → 201 ``{"charge_id", "amount", "currency", "reference", "status": "succeeded"}``.
- ``POST /payments/refunds`` ``{"charge_id": …, "amount": …?}`` (default: what is left to refund)
  → 201 ``{"refund_id", "charge_id", "amount"}``; 404 for an unknown charge, 409 beyond what is left.

An ``Idempotency-Key`` header is optional here (as payment APIs have it): with one, a retry is
answered from the store without a second charge or refund (``idempotency.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stack.embedded.gateway.http_server import HttpRequest, HttpResponse
from stack.partner.answers import Refused, json_object
from stack.partner.faults import FaultDecision, first_error
from stack.partner.idempotency import (
    Effect,
    IdempotencyStore,
    Outcome,
    idempotency_key,
    record_request,
    serve_idempotent,
    serve_with_faults,
)
from stack.partner.records import MAX_RECORDS, Charge, Moment, PaymentRecords, RecordLog, Refund, RequestRecord

MAX_AMOUNT = 10**12

M = TypeVar("M", bound=BaseModel)


class ChargeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0, le=MAX_AMOUNT)
    currency: str = Field(pattern=r"^[a-z]{3}$")
    reference: str | None = Field(default=None, max_length=255)


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    charge_id: str = Field(min_length=1, max_length=64)
    amount: int | None = Field(default=None, gt=0, le=MAX_AMOUNT)


def _validated(model: type[M], request: HttpRequest) -> M:
    try:
        return model.model_validate(json_object(request))
    except ValidationError as exc:
        where, message = first_error(exc)
        raise Refused(400, f"{where}: {message}") from None


class Payments:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests: RecordLog[RequestRecord] = RecordLog()
        self._store = IdempotencyStore()
        self._charges: OrderedDict[str, Charge] = OrderedDict()
        self._refunds: RecordLog[Refund] = RecordLog()
        self._charged = 0
        self._dropped = 0

    def charge(self, request: HttpRequest, moment: Moment, decision: FaultDecision) -> HttpResponse:
        def serve() -> Outcome:
            key = idempotency_key(request, required=False)
            asked = _validated(ChargeRequest, request)
            return serve_idempotent(self._store, key, request.body, decision, lambda: self._charge(asked, key, moment))

        return self._answer(request, moment, serve_with_faults(decision, serve))

    def refund(self, request: HttpRequest, moment: Moment, decision: FaultDecision) -> HttpResponse:
        def serve() -> Outcome:
            key = idempotency_key(request, required=False)
            asked = _validated(RefundRequest, request)
            return serve_idempotent(self._store, key, request.body, decision, lambda: self._refund(asked, key, moment))

        return self._answer(request, moment, serve_with_faults(decision, serve))

    def _answer(self, request: HttpRequest, moment: Moment, outcome: Outcome) -> HttpResponse:
        record_request(self.requests, request, moment, outcome)
        return outcome.response

    def _charge(self, asked: ChargeRequest, key: str | None, moment: Moment) -> Effect:
        self._charged += 1
        charge = Charge(
            charge_id=f"ch_{self._charged:06d}",
            seq=self._charged,
            at_ns=moment.at_ns,
            received_at=moment.received_at,
            amount=asked.amount,
            currency=asked.currency,
            reference=asked.reference,
            refunded=0,
            idempotency_key=key,
        )
        self._charges[charge.charge_id] = charge
        while len(self._charges) > MAX_RECORDS:
            self._charges.popitem(last=False)
            self._dropped += 1
        payload = {
            "charge_id": charge.charge_id,
            "amount": charge.amount,
            "currency": charge.currency,
            "reference": charge.reference,
            "status": "succeeded",
        }
        return Effect(201, payload, charge.charge_id)

    def _refund(self, asked: RefundRequest, key: str | None, moment: Moment) -> Effect:
        charge = self._charges.get(asked.charge_id)
        if charge is None:
            raise Refused(404, f"no charge {asked.charge_id}")
        left = charge.amount - charge.refunded
        amount = asked.amount if asked.amount is not None else left
        if amount <= 0 or amount > left:
            raise Refused(409, f"charge {charge.charge_id} has {left} left to refund, not {amount}")
        self._charges[charge.charge_id] = charge.model_copy(update={"refunded": charge.refunded + amount})
        seq = self._refunds.next_seq()
        refund = Refund(
            refund_id=f"re_{seq:06d}",
            charge_id=charge.charge_id,
            seq=seq,
            at_ns=moment.at_ns,
            received_at=moment.received_at,
            amount=amount,
            idempotency_key=key,
        )
        self._refunds.append(refund)
        return Effect(
            201, {"refund_id": refund.refund_id, "charge_id": charge.charge_id, "amount": amount}, refund.refund_id
        )

    def records(self) -> PaymentRecords:
        return PaymentRecords(
            charges=list(self._charges.values()),
            refunds=list(self._refunds),
            requests=list(self.requests),
            dropped=self.requests.dropped + self._refunds.dropped + self._dropped,
        )
