"""The accounting-outage drill's reconciliation: pure logic over what was submitted, the invoices
table and the partner's records."""

from __future__ import annotations

from chaos.accounting_outage import SubmittedInvoice, reconcile_invoices
from stack.partner.records import AccountingRecords, Booking, Charge, PaymentRecords


def _booking(booking_id: str, invoice_id: str) -> Booking:
    return Booking(
        booking_id=booking_id,
        seq=1,
        at_ns=0,
        received_at=0,
        idempotency_key=invoice_id,
        invoice={"invoice_id": invoice_id},
        requests=1,
    )


def _charge(reference: str, refunded: int = 0) -> Charge:
    return Charge(
        charge_id=f"ch-{reference}-{refunded}",
        seq=1,
        at_ns=0,
        received_at=0,
        amount=100,
        currency="eur",
        reference=reference,
        refunded=refunded,
        idempotency_key=None,
    )


def _item(booking_id: str, status: str = "SUCCEEDED") -> dict:
    return {"status": status, "booking_id": booking_id, "steps": [{"step": "booked"}, {"step": "completed"}]}


SUBMITTED = [
    SubmittedInvoice("R-card", "card", 202, "inv_a"),
    SubmittedInvoice("R-transfer", "transfer", 202, "inv_b"),
]


def _reconcile(items: dict, bookings: list[Booking], charges: list[Charge], letters=(), starter_dlq: int = 0):
    return reconcile_invoices(
        SUBMITTED,
        items,
        AccountingRecords(bookings=bookings, requests=[], dropped=0),
        PaymentRecords(charges=charges, refunds=[], requests=[], dropped=0),
        letters,
        starter_dlq,
    )


def test_booked_once_charged_once_and_completed_is_clean():
    result = _reconcile(
        {"inv_a": _item("bk_1"), "inv_b": _item("bk_2")},
        [_booking("bk_1", "inv_a"), _booking("bk_2", "inv_b")],
        [_charge("R-card"), _charge("R-card", refunded=100)],  # the failed round's charge, refunded
    )
    assert result.ok and result.succeeded == 2 and not result.problems


def test_a_second_booking_a_lost_invoice_and_a_leftover_dead_letter_are_each_named():
    result = _reconcile(
        {"inv_a": _item("bk_1")},
        [_booking("bk_1", "inv_a"), _booking("bk_9", "inv_a")],
        [_charge("R-card")],
        letters=["inv_a"],
        starter_dlq=1,
    )
    assert not result.ok
    assert result.booked_more_than_once == 1 and result.lost == 1 and result.dead_lettered == 2
    problems = "\n".join(result.problems)
    assert "inv_a (R-card): booked 2 times at the accounting API" in problems
    assert "inv_b (R-transfer): lost" in problems


def test_half_done_a_success_without_its_booking_or_with_a_stray_charge():
    result = _reconcile(
        {"inv_a": _item("bk_other"), "inv_b": _item("bk_2")},
        [_booking("bk_1", "inv_a"), _booking("bk_2", "inv_b")],
        [_charge("R-card"), _charge("R-transfer")],
    )
    assert result.half_done == 2
    problems = "\n".join(result.problems)
    assert "carries booking bk_other, the accounting API booked bk_1" in problems
    assert "1 unrefunded charge(s), expected 0" in problems


def test_a_failed_invoice_is_not_succeeded_with_its_reason():
    result = _reconcile(
        {"inv_a": {**_item("bk_1", "FAILED"), "reason": "AccountingUnavailable: 503"}, "inv_b": _item("bk_2")},
        [_booking("bk_1", "inv_a"), _booking("bk_2", "inv_b")],
        [],
    )
    assert result.not_succeeded == 1
    assert result.problems == ["inv_a (R-card): FAILED, not SUCCEEDED (AccountingUnavailable: 503)"]
