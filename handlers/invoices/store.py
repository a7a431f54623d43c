"""The invoices table: one item per invoice, and one per (tenant, reference) claiming the reference.

The invoice and its claim are written in one transaction, so a reference is unique per tenant and
no invoice exists without its claim. The steps of an invoice's execution update its item — status,
the attributes the step produced, one line of step history — each conditional on the item's
``round``: a step of an execution from an earlier round (before a replay) changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from handlers.invoices.contract import InvoiceMessage, InvoiceStatus, StepEntry
from handlers.platform.dynamodb_update import (
    CONDITIONAL_CHECK_FAILED,
    cancellation_reasons,
    deserialize_item,
    is_conditional_check_failure,
    serialize,
)

KIND_INVOICE = "invoice"
KIND_REFERENCE = "reference"


class DuplicateReference(Exception):
    """The tenant already used this reference; ``invoice_id`` is the invoice that holds it."""

    def __init__(self, reference: str, invoice_id: str | None):
        super().__init__(f"reference {reference!r} is already used by invoice {invoice_id or 'unknown'}")
        self.reference = reference
        self.invoice_id = invoice_id


class StaleRound(Exception):
    """The invoice is not in this round any more (replayed since), or it does not exist."""


def reference_key(tenant: str, reference: str) -> str:
    # "#" cannot appear in an invoice id, a tenant name or a reference (their patterns exclude it).
    return f"ref#{tenant}#{reference}"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class ReplayOutcome:
    """``send``: the invoice is (now or already) in the new round and its message must be sent;
    False: the dead letter is stale (the invoice moved on) and is only removed."""

    send: bool
    status: str | None


class InvoiceStore:
    def __init__(self, client: Any, table: str):
        self._client = client
        self._table = table

    # --- intake -------------------------------------------------------------------------------

    def create(self, message: InvoiceMessage) -> None:
        """The invoice (RECEIVED) and its reference claim, both or neither."""
        item = {
            "id": message.invoice_id,
            "kind": KIND_INVOICE,
            "tenant": message.tenant,
            "reference": message.reference,
            "customer": message.customer,
            "currency": message.currency,
            "amount": message.amount,
            "payment": message.payment,
            "lines": len(message.lines),
            "status": InvoiceStatus.RECEIVED.value,
            "round": message.round,
            "submitted_at": message.submitted_at_ms,
            "updated_at": message.submitted_at_ms,
            "steps": [],
        }
        claim = {
            "id": reference_key(message.tenant, message.reference),
            "kind": KIND_REFERENCE,
            "invoice_id": message.invoice_id,
        }
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _item(record),
                            "ConditionExpression": "attribute_not_exists(id)",
                        }
                    }
                    for record in (item, claim)
                ]
            )
        except Exception as error:
            reasons = cancellation_reasons(error)
            if reasons is not None and [r.get("Code") for r in reasons][1:2] == [CONDITIONAL_CHECK_FAILED]:
                holder = self.reference_holder(message.tenant, message.reference)
                raise DuplicateReference(message.reference, holder) from None
            raise

    def take_back(self, message: InvoiceMessage) -> None:
        """Undo ``create`` (the invoice could not be queued): the invoice and its claim, both."""
        keys = (message.invoice_id, reference_key(message.tenant, message.reference))
        self._client.transact_write_items(
            TransactItems=[{"Delete": {"TableName": self._table, "Key": {"id": serialize(key)}}} for key in keys]
        )

    def reference_holder(self, tenant: str, reference: str) -> str | None:
        item = self._client.get_item(
            TableName=self._table, Key={"id": serialize(reference_key(tenant, reference))}, ConsistentRead=True
        ).get("Item")
        return str(deserialize_item(item)["invoice_id"]) if item else None

    # --- reads --------------------------------------------------------------------------------

    def get(self, invoice_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key={"id": serialize(invoice_id)}, ConsistentRead=True).get(
            "Item"
        )
        return invoice_item(item)

    # --- the steps ----------------------------------------------------------------------------

    def record_step(
        self,
        invoice_id: str,
        round_: int,
        step: str,
        *,
        status: InvoiceStatus | None = None,
        sets: Mapping[str, Any] | None = None,
        detail: str | None = None,
    ) -> dict[str, Any]:
        """One step's outcome on the invoice: ``sets`` (attribute → value), ``status`` if given, a
        line of history; the invoice as stored afterwards. StaleRound when the invoice is gone or in
        another round."""
        at = now_ms()
        entry = StepEntry(step=step, round=round_, at_ms=at, detail=detail[:1000] if detail else None)
        values: dict[str, Any] = {
            ":round": round_,
            ":at": at,
            ":entry": [entry.model_dump(exclude_none=True)],
            ":none": [],
        }
        names = {"#round": "round", "#updated": "updated_at", "#steps": "steps"}
        assignments = ["#updated = :at", "#steps = list_append(if_not_exists(#steps, :none), :entry)"]
        for index, (attribute, value) in enumerate(
            {**(sets or {}), **({"status": status.value} if status else {})}.items()
        ):
            names[f"#a{index}"] = attribute
            values[f":a{index}"] = value
            assignments.append(f"#a{index} = :a{index}")
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key={"id": serialize(invoice_id)},
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression="attribute_exists(id) AND #round = :round",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={name: serialize(value) for name, value in values.items()},
                ReturnValues="ALL_NEW",
            )
        except Exception as error:
            if is_conditional_check_failure(error):
                raise StaleRound(f"invoice {invoice_id} is not in round {round_}") from None
            raise
        item = invoice_item(answer.get("Attributes"))
        if item is None:
            raise StaleRound(f"invoice {invoice_id} is not an invoice item")
        return item

    def started(self, invoice_id: str, round_: int, execution_arn: str) -> None:
        """The starter's mark: which execution runs this round (nothing when the round moved on)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": serialize(invoice_id)},
                UpdateExpression="SET #execution = :arn",
                ConditionExpression="attribute_exists(id) AND #round = :round",
                ExpressionAttributeNames={"#execution": "execution_arn", "#round": "round"},
                ExpressionAttributeValues={":arn": serialize(execution_arn), ":round": serialize(round_)},
            )
        except Exception as error:
            if not is_conditional_check_failure(error):
                raise

    # --- replay -------------------------------------------------------------------------------

    def begin_replay(self, invoice_id: str, from_round: int) -> ReplayOutcome:
        """Move a FAILED invoice of ``from_round`` to REPLAYED in the next round (its compensated
        charge forgotten: the new round charges anew, the history keeps both). An invoice
        already REPLAYED into that round (a replay interrupted before its send) is sent again;
        one that moved on otherwise makes its dead letter stale."""
        at = now_ms()
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": serialize(invoice_id)},
                UpdateExpression="SET #status = :replayed, #round = :next, #updated = :at, #replayed_at = :at "
                "REMOVE #reason, #charge, #refund",
                ConditionExpression="#kind = :invoice AND ((#status = :failed AND #round = :round) "
                "OR (#status = :replayed AND #round = :next))",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#round": "round",
                    "#updated": "updated_at",
                    "#replayed_at": "replayed_at",
                    "#reason": "reason",
                    "#charge": "charge_id",
                    "#refund": "refund_id",
                    "#kind": "kind",
                },
                ExpressionAttributeValues={
                    name: serialize(value)
                    for name, value in {
                        ":replayed": InvoiceStatus.REPLAYED.value,
                        ":failed": InvoiceStatus.FAILED.value,
                        ":round": from_round,
                        ":next": from_round + 1,
                        ":at": at,
                        ":invoice": KIND_INVOICE,
                    }.items()
                },
            )
        except Exception as error:
            if is_conditional_check_failure(error):
                item = self.get(invoice_id)
                return ReplayOutcome(False, str(item["status"]) if item else None)
            raise
        return ReplayOutcome(True, InvoiceStatus.REPLAYED.value)


def _item(record: Mapping[str, Any]) -> dict[str, Any]:
    return {name: serialize(value) for name, value in record.items()}


def invoice_item(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stored invoice as plain values (numbers as int), or None for anything else."""
    if not item:
        return None
    plain = _plain(deserialize_item(item))
    return plain if isinstance(plain, dict) and plain.get("kind") == KIND_INVOICE else None


def _plain(value: Any) -> Any:
    # DynamoDB numbers deserialize as Decimal; every number of an invoice is a whole number.
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    if isinstance(value, Decimal):
        return int(value)
    return value
