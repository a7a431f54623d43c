"""POST /invoices: the tenant's invoice, checked, recorded (RECEIVED) and queued for its
execution; 202 with its id and status URL — or one line saying why not, with nothing
half-written.

The gateway has already checked the body against the ``InvoiceSubmission`` model (400 before
this runs). Here: the same document as a DTO (a caller that bypasses the gateway gets the same
400), the amount against the lines' gross total (400), the invoice item and the tenant's
reference claim in one transaction (reference taken → 409 naming the invoice that has it), then
SendMessage. A failed send takes the invoice and its claim back and answers 503: never a 202 for
an invoice that is not queued, never an invoice item without its message.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from handlers.invoices.contract import InvoiceMessage, InvoiceSubmission, invoice_totals, new_invoice_id
from handlers.invoices.settings import InvoiceIntakeSettings
from handlers.invoices.store import DuplicateReference, InvoiceStore, now_ms
from handlers.platform.api_gateway import authorizer_context, json_response, raw_body
from handlers.platform.api_intake import Refusal, answer_submission, read_submission, status_url
from handlers.platform.aws_clients import client
from handlers.platform.logging_setup import function_logger

logger = function_logger("invoice-intake")


def read_invoice(body: bytes, max_body_bytes: int) -> InvoiceSubmission:
    submission = read_submission(body, max_body_bytes, InvoiceSubmission, "invoice")
    gross = invoice_totals(submission.lines).gross
    if submission.amount != gross:
        raise Refusal(400, f"amount {submission.amount} is not the lines' gross total {gross}")
    return submission


class InvoiceIntake:
    def __init__(self, settings: InvoiceIntakeSettings, store: InvoiceStore, sqs: Any):
        self._settings = settings
        self._store = store
        self._sqs = sqs

    def submit(self, event: Mapping[str, Any], log: dict[str, Any]) -> dict[str, Any]:
        tenant = str(authorizer_context(event).get("tenant") or "")
        if not tenant:
            return json_response(403, {"message": "no tenant in the request context"})
        try:
            body = raw_body(event)
        except ValueError as error:
            raise Refusal(400, str(error)) from None
        submission = read_invoice(body, self._settings.max_body_bytes)
        message = InvoiceMessage(
            invoice_id=new_invoice_id(),
            tenant=tenant,
            submitted_at_ms=now_ms(),
            **submission.model_dump(),
        )
        log.update(invoice_id=message.invoice_id, reference=submission.reference)
        try:
            self._store.create(message)
        except DuplicateReference as duplicate:
            raise Refusal(409, str(duplicate), id=duplicate.invoice_id) from None
        except Exception as error:  # noqa: BLE001  (nothing was written: the tenant may retry)
            raise Refusal(503, f"invoice store unavailable: {type(error).__name__}") from None
        try:
            self._sqs.send_message(QueueUrl=self._settings.invoices_queue_url, MessageBody=message.model_dump_json())
        except Exception as error:  # noqa: BLE001  (not queued: take the invoice back, then 503)
            self._take_back(message, log)
            raise Refusal(503, f"invoices queue unavailable: {type(error).__name__}") from None
        return json_response(
            202,
            {"id": message.invoice_id, "status": "RECEIVED", "status_url": status_url(event, message.invoice_id)},
        )

    def _take_back(self, message: InvoiceMessage, log: dict[str, Any]) -> None:
        try:
            self._store.take_back(message)
        except Exception:  # noqa: BLE001  (both stores failing: say which invoice is left, loudly)
            log["orphaned_invoice"] = message.invoice_id
            logger.exception(
                "invoice recorded but neither queued nor taken back", extra={"invoice_id": message.invoice_id}
            )


@functools.cache
def _intake() -> InvoiceIntake:
    settings = InvoiceIntakeSettings.from_env()
    return InvoiceIntake(settings, InvoiceStore(client("dynamodb"), settings.invoices_table), client("sqs"))


def handle(intake: InvoiceIntake, event: Mapping[str, Any]) -> dict[str, Any]:
    log: dict[str, Any] = {"invoice_id": None}
    return answer_submission(logger, "invoice-intake", "invoice", log, lambda: intake.submit(event, log))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_intake(), event)
