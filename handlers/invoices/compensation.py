"""Step ``Compensate`` (every Catch leads here): undo what the failed round did, record why, and
dead-letter the invoice for ``hookstack invoices replay``.

- A charge of this round is refunded (Idempotency-Key ``refund:<charge id>``: a retried
  compensation refunds once).
- A booking is kept: the accounting API has no reversal. The invoice item says so
  (``compensation``); a replay presents the same Idempotency-Key and is answered that booking,
  so the invoice is still booked once.
- The invoice becomes FAILED with its reason, then its message goes to the invoice dead letters
  queue with the reason as attributes. A retried compensation may send a second copy; a replay
  of both starts one execution (the round moves once, the execution name is per round).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from handlers.invoices.contract import MAX_REASON_CHARS, InvoiceMessage, InvoiceStatus, refund_key
from handlers.invoices.partner_api import PartnerApi
from handlers.invoices.settings import CompensationSettings
from handlers.invoices.steps import run_step
from handlers.invoices.store import InvoiceStore, StaleRound
from handlers.platform.aws_clients import client

ATTR_INVOICE_ID = "invoice_id"
ATTR_TENANT = "tenant"
ATTR_ROUND = "round"
ATTR_REASON = "dead_letter_reason"
ATTR_ERROR = "error"


def failure_reason(error: Mapping[str, Any] | None) -> tuple[str, str]:
    """(error name, one-line reason) from a Catch's ``{"Error", "Cause"}``; a Lambda task's Cause
    is its error payload as JSON (``errorMessage`` inside)."""
    error = error or {}
    name = str(error.get("Error") or "States.Unknown")
    cause = str(error.get("Cause") or "")
    try:
        payload = json.loads(cause)
    except ValueError:
        payload = None
    message = str(payload.get("errorMessage") or "") if isinstance(payload, dict) else cause
    reason = f"{name}: {message}" if message else name
    return name, " ".join(reason.split())[:MAX_REASON_CHARS]


class Compensation:
    def __init__(self, api: PartnerApi, store: InvoiceStore, sqs: Any, dead_letters_queue_url: str):
        self._api = api
        self._store = store
        self._sqs = sqs
        self._dead_letters = dead_letters_queue_url

    def compensate(self, invoice: InvoiceMessage, error: Mapping[str, Any] | None) -> dict[str, Any]:
        item = self._store.get(invoice.invoice_id)
        if item is None or item.get("round") != invoice.round:
            raise StaleRound(f"invoice {invoice.invoice_id} is not in round {invoice.round}: nothing to compensate")
        error_name, reason = failure_reason(error)
        done: list[str] = []
        sets: dict[str, Any] = {"reason": reason, "failed_error": error_name}
        charge_id = item.get("charge_id")
        if charge_id:
            refund = self._api.refund(refund_key(str(charge_id)), str(charge_id))
            sets["refund_id"] = str(refund.document["refund_id"])
            done.append(f"refunded {charge_id} ({sets['refund_id']})")
        if item.get("booking_id"):
            done.append(f"booking {item['booking_id']} kept (the accounting API has no reversal; a replay reuses it)")
        sets["compensation"] = "; ".join(done) or "nothing to undo"
        self._store.record_step(
            invoice.invoice_id, invoice.round, "compensated", status=InvoiceStatus.FAILED, sets=sets, detail=reason
        )
        self._sqs.send_message(
            QueueUrl=self._dead_letters,
            MessageBody=invoice.model_dump_json(),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in {
                    ATTR_INVOICE_ID: invoice.invoice_id,
                    ATTR_TENANT: invoice.tenant,
                    ATTR_ROUND: str(invoice.round),
                    ATTR_REASON: reason,
                    ATTR_ERROR: error_name,
                }.items()
            },
        )
        return {"compensated": True, "reason": reason}


@functools.cache
def _compensation() -> Compensation:
    settings = CompensationSettings.from_env()
    api = PartnerApi(settings.partner_url, settings.partner_timeout_ms / 1000)
    store = InvoiceStore(client("dynamodb"), settings.invoices_table)
    return Compensation(api, store, client("sqs"), settings.dead_letters_queue_url)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    compensation = _compensation()
    return run_step("compensation", event, lambda invoice: compensation.compensate(invoice, event.get("error")))
