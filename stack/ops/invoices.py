"""The orchestration pattern's dead letters: list them, and replay them after a fix.

A dead letter is a compensated invoice's message with its reason (``dead_letter_reason``). A
replay moves the invoice to REPLAYED in the next round (``InvoiceStore.begin_replay``), sends its
message with that round to the invoices queue (the starter starts a new execution: its name is
per round) and deletes the dead letter. The booking step presents the same Idempotency-Key in
every round, so a replay never books twice. A dead letter whose invoice moved on (replayed
already, or a second copy of one compensation) is deleted without a send. Every loop is bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from handlers.invoices.compensation import ATTR_ERROR, ATTR_INVOICE_ID, ATTR_REASON, ATTR_ROUND, ATTR_TENANT
from handlers.invoices.contract import InvoiceMessage
from handlers.invoices.store import InvoiceStore
from stack.errors import HookstackError

RECEIVE_BATCH = 10
VISIBILITY_SECONDS = 60
DEFAULT_MAX_MESSAGES = 10_000
EMPTY_RECEIVES = 2  # two empty receives in a row: the queue holds nothing visible


@dataclass(frozen=True)
class InvoiceDeadLetter:
    message_id: str
    receipt_handle: str
    invoice_id: str
    tenant: str
    round: int
    reason: str
    error: str
    body: str

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document.pop("receipt_handle")
        document.pop("body")
        return document


@dataclass
class InvoiceReplayResult:
    replayed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # the invoice had moved on: deleted, not sent
    skipped: list[str] = field(default_factory=list)  # not asked for (left in the queue)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _attribute(message: dict[str, Any], name: str) -> str:
    return str((message.get("MessageAttributes") or {}).get(name, {}).get("StringValue", ""))


def dead_letter(message: dict[str, Any]) -> InvoiceDeadLetter:
    return InvoiceDeadLetter(
        message_id=str(message["MessageId"]),
        receipt_handle=str(message["ReceiptHandle"]),
        invoice_id=_attribute(message, ATTR_INVOICE_ID),
        tenant=_attribute(message, ATTR_TENANT),
        round=int(_attribute(message, ATTR_ROUND) or 0),
        reason=_attribute(message, ATTR_REASON),
        error=_attribute(message, ATTR_ERROR),
        body=str(message.get("Body", "")),
    )


def _receive(sqs: Any, queue_url: str, max_messages: int, visibility_s: int) -> list[InvoiceDeadLetter]:
    """Up to ``max_messages`` dead letters, hidden for ``visibility_s`` while the caller works."""
    letters: list[InvoiceDeadLetter] = []
    empty = 0
    for _ in range(max_messages // RECEIVE_BATCH + EMPTY_RECEIVES + 1):
        if len(letters) >= max_messages or empty >= EMPTY_RECEIVES:
            break
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(RECEIVE_BATCH, max_messages - len(letters)),
            VisibilityTimeout=visibility_s,
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages = answer.get("Messages") or []
        empty = 0 if messages else empty + 1
        letters += [dead_letter(message) for message in messages]
    return letters


def _release(sqs: Any, queue_url: str, letters: Iterable[InvoiceDeadLetter]) -> None:
    for letter in letters:
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=0)


def list_invoice_dead_letters(sqs: Any, queue_url: str, limit: int = 100) -> list[InvoiceDeadLetter]:
    """The dead letters (left in the queue: shown again at once)."""
    letters = _receive(sqs, queue_url, limit, VISIBILITY_SECONDS)
    _release(sqs, queue_url, letters)
    return letters


def replay_invoices(
    sqs: Any,
    store: InvoiceStore,
    dead_letters_url: str,
    invoices_queue_url: str,
    *,
    invoice_ids: Iterable[str] | None = None,
    dry_run: bool = False,
    max_messages: int = DEFAULT_MAX_MESSAGES,
) -> InvoiceReplayResult:
    """Replay the dead letters of ``invoice_ids`` (None: all of them)."""
    wanted = set(invoice_ids) if invoice_ids is not None else None
    if wanted is not None and not wanted:
        raise HookstackError("name the invoices to replay, or replay --all")
    result = InvoiceReplayResult()
    letters = _receive(sqs, dead_letters_url, max_messages, VISIBILITY_SECONDS)
    leave = [letter for letter in letters if dry_run or (wanted is not None and letter.invoice_id not in wanted)]
    result.skipped = [letter.invoice_id for letter in leave if not dry_run]
    for letter in letters:
        if letter in leave:
            if dry_run:
                result.replayed.append(letter.invoice_id)
            continue
        try:
            _replay_one(sqs, store, letter, dead_letters_url, invoices_queue_url, result)
        except Exception as error:  # noqa: BLE001  (one failed replay stays in the queue; the rest go on)
            result.errors.append(f"{letter.invoice_id}: {type(error).__name__}: {error}")
    _release(sqs, dead_letters_url, leave)
    return result


def _replay_one(
    sqs: Any,
    store: InvoiceStore,
    letter: InvoiceDeadLetter,
    dead_letters_url: str,
    invoices_queue_url: str,
    result: InvoiceReplayResult,
) -> None:
    message = InvoiceMessage.model_validate_json(letter.body)
    outcome = store.begin_replay(message.invoice_id, message.round)
    if outcome.send:
        next_round = message.model_copy(update={"round": message.round + 1})
        sqs.send_message(QueueUrl=invoices_queue_url, MessageBody=next_round.model_dump_json())
        result.replayed.append(message.invoice_id)
    else:
        result.stale.append(message.invoice_id)
    sqs.delete_message(QueueUrl=dead_letters_url, ReceiptHandle=letter.receipt_handle)
