"""Accounting and payments: one effect per Idempotency-Key, whatever the retries and the faults."""

from __future__ import annotations

import json

from stack.embedded.gateway.http_server import HttpRequest
from stack.partner.accounting import Accounting
from stack.partner.faults import FaultDecision
from stack.partner.payments import Payments
from stack.partner.records import Moment

HEALTHY = FaultDecision(0.0, None, None, after_effect=False)
ERROR_BEFORE = FaultDecision(0.0, 503, "error", after_effect=False)
ERROR_AFTER = FaultDecision(0.0, 502, "error", after_effect=True)
AT = Moment(0, 0)


def _post(path: str, payload: object, key: str | None = None) -> HttpRequest:
    headers = [("Host", "partner")] + ([("Idempotency-Key", key)] if key else [])
    return HttpRequest("POST", path, path, "", headers, json.dumps(payload).encode(), "127.0.0.1", 1, "HTTP/1.1")


def _book(accounting: Accounting, invoice: object, key: str | None, decision: FaultDecision = HEALTHY):
    return accounting.serve(_post("/accounting/invoices", invoice, key), AT, decision)


def test_a_retried_booking_books_once_and_replays_the_first_answer():
    accounting = Accounting()
    first = _book(accounting, {"invoice": "INV-1", "amount": 100}, "k1")
    retry = _book(accounting, {"invoice": "INV-1", "amount": 100}, "k1")
    assert first.status == retry.status == 201 and first.body == retry.body
    assert ("Idempotent-Replayed", "true") in retry.headers and ("Idempotent-Replayed", "true") not in first.headers
    records = accounting.records()
    assert len(records.bookings) == 1 and records.bookings[0].requests == 2
    assert [r.replayed for r in records.requests] == [False, True]


def test_two_keys_are_two_bookings():
    accounting = Accounting()
    _book(accounting, {"invoice": "INV-1"}, "k1")
    _book(accounting, {"invoice": "INV-1"}, "k2")
    assert [b.idempotency_key for b in accounting.records().bookings] == ["k1", "k2"]


def test_a_key_reused_with_another_body_is_refused():
    accounting = Accounting()
    _book(accounting, {"invoice": "INV-1"}, "k1")
    assert _book(accounting, {"invoice": "INV-2"}, "k1").status == 422
    assert len(accounting.records().bookings) == 1


def test_a_booking_needs_a_key_and_a_json_object():
    accounting = Accounting()
    assert _book(accounting, {"invoice": "INV-1"}, None).status == 400
    assert _book(accounting, ["not", "an", "object"], "k1").status == 400
    assert accounting.records().bookings == []


def test_an_error_before_the_effect_books_nothing_and_its_retry_books_once():
    accounting = Accounting()
    assert _book(accounting, {"invoice": "INV-1"}, "k1", ERROR_BEFORE).status == 503
    assert accounting.records().bookings == []
    assert _book(accounting, {"invoice": "INV-1"}, "k1").status == 201
    assert len(accounting.records().bookings) == 1


def test_an_error_after_the_effect_books_and_the_retry_is_replayed():
    accounting = Accounting()
    assert _book(accounting, {"invoice": "INV-1"}, "k1", ERROR_AFTER).status == 502
    retry = _book(accounting, {"invoice": "INV-1"}, "k1")
    assert retry.status == 201 and ("Idempotent-Replayed", "true") in retry.headers
    records = accounting.records()
    assert len(records.bookings) == 1 and [r.fault for r in records.requests] == ["error", None]


def test_charge_and_refund_for_compensation():
    payments = Payments()
    charged = payments.charge(_post("/payments/charges", {"amount": 1000, "currency": "eur"}), AT, HEALTHY)
    assert charged.status == 201
    charge_id = json.loads(charged.body)["charge_id"]
    partial = payments.refund(_post("/payments/refunds", {"charge_id": charge_id, "amount": 300}), AT, HEALTHY)
    rest = payments.refund(_post("/payments/refunds", {"charge_id": charge_id}), AT, HEALTHY)
    assert partial.status == rest.status == 201 and json.loads(rest.body)["amount"] == 700
    assert payments.refund(_post("/payments/refunds", {"charge_id": charge_id}), AT, HEALTHY).status == 409
    assert payments.refund(_post("/payments/refunds", {"charge_id": "ch_nope"}), AT, HEALTHY).status == 404
    records = payments.records()
    assert [c.refunded for c in records.charges] == [1000] and [r.amount for r in records.refunds] == [300, 700]


def test_a_charge_with_a_key_is_charged_once():
    payments = Payments()
    request = {"amount": 500, "currency": "usd", "reference": "order-1"}
    for _ in range(3):
        assert payments.charge(_post("/payments/charges", request, "pay-1"), AT, HEALTHY).status == 201
    assert len(payments.records().charges) == 1


def test_a_charge_must_be_well_formed():
    payments = Payments()
    for bad in ({"amount": 0, "currency": "eur"}, {"amount": 5, "currency": "EURO"}, {"amount": 5}):
        assert payments.charge(_post("/payments/charges", bad), AT, HEALTHY).status == 400
    assert payments.records().charges == []
