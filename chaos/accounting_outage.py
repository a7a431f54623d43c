"""The accounting-outage drill, on a stage with the orchestration pattern: the accounting API (the
partner simulator's) books each invoice but loses its answer (503 after the effect) until every
invoice of the drill has run out of retries — each execution retries its booking, then its Catch
compensates and dead-letters the invoice. Then the API recovers and the drill replays the dead
letters (``hookstack invoices replay``, ``stack.ops.invoices``).

Verdict, from the stage and the partner's own records (``reconcile_invoices``): every accepted
invoice SUCCEEDED, booked exactly once at the accounting API under the booking id the invoice
carries, a card invoice charged once (unrefunded), none left in the dead letters or the starter's
DLQ — none lost, none half-done. The drill's own checks that its fault had an effect: every
invoice was compensated with ``AccountingUnavailable`` before the replay, and the partner
answered every attempt of each invoice with the fault.

An answer lost after the booking is the case the booking's Idempotency-Key exists for: the
broken variant (``orchestration_sabotage = "unkeyed-booking"``, a fresh key per attempt) books
again on every retry and on the replay, and the drill must FAIL on "booked exactly once".
"""

from __future__ import annotations

import json
import secrets as secrets_module
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.context import Check, DrillSettings
from chaos.observe import queue_depths
from chaos.runner import DrillResult
from handlers.invoices.contract import InvoiceStatus
from handlers.invoices.store import InvoiceStore
from stack.clients.webhook_client import ApiClient
from stack.deploy.outputs import StackOutputs, tenant_token
from stack.errors import HookstackError
from stack.ops.invoices import list_invoice_dead_letters, replay_invoices
from stack.partner.client import PartnerClient
from stack.partner.records import AccountingRecords, PaymentRecords
from stack.patterns.base import output_name
from stack.patterns.orchestration import PARTNER_RETRY

NAME = "accounting-outage"
SUMMARY = (
    "the accounting API books but loses its answers (503) until every invoice is compensated and "
    "dead-lettered; after recovery and `invoices replay` each one SUCCEEDED, booked exactly once"
)
PATTERN = "orchestration"
SABOTAGE = "unkeyed-booking"
UNKEYED_HANDLER_SUFFIX = ".unkeyed_handler"  # the booking handler the sabotage deploys
ATTEMPTS = 1 + int(PARTNER_RETRY["max_attempts"])  # each booking's tries within one round
FAULT_STATUS = 503
SUBMIT_THREADS = 4
POLL_S = 1.0
PHASE_S = 150.0  # at most, for the invoices to reach their final status in each phase
MAX_LISTED = 25


@dataclass(frozen=True)
class SubmittedInvoice:
    reference: str
    payment: str  # card | transfer
    status: int  # the POST /invoices answer's status (0: the request failed)
    invoice_id: str | None

    @property
    def accepted(self) -> bool:
        return self.status == 202 and self.invoice_id is not None


@dataclass
class InvoiceOutcome:
    reference: str
    invoice_id: str
    status: str
    bookings: int
    charges: int  # unrefunded charges of its reference
    problem: str | None = None


@dataclass
class InvoiceReconciliation:
    submitted: int = 0
    accepted: int = 0
    succeeded: int = 0
    lost: int = 0
    not_succeeded: int = 0
    booked_more_than_once: int = 0
    half_done: int = 0
    dead_lettered: int = 0  # still in the invoice dead letters or the starter's DLQ
    outcomes: list[InvoiceOutcome] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [f"{o.invoice_id} ({o.reference}): {o.problem}" for o in self.outcomes if o.problem]

    @property
    def ok(self) -> bool:
        return self.accepted == self.submitted and not self.problems and not self.dead_lettered

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["outcomes"] = [asdict(o) for o in self.outcomes if o.problem][:MAX_LISTED]
        document["problems"] = self.problems[:MAX_LISTED]
        return document


def _problem(submitted: SubmittedInvoice, item: Mapping[str, Any], bookings: list[str], charges: int) -> str | None:
    status = str(item.get("status"))
    if status != InvoiceStatus.SUCCEEDED:
        return f"{status}, not SUCCEEDED" + (f" ({item['reason']})" if item.get("reason") else "")
    if len(bookings) != 1:
        return f"booked {len(bookings)} times at the accounting API"
    if item.get("booking_id") != bookings[0]:
        return f"carries booking {item.get('booking_id')}, the accounting API booked {bookings[0]}"
    expected_charges = 1 if submitted.payment == "card" else 0
    if charges != expected_charges:
        return f"{charges} unrefunded charge(s), expected {expected_charges}"
    steps = [step.get("step") for step in item.get("steps") or []]
    if not steps or steps[-1] != "completed":
        return f"SUCCEEDED without its completion step (steps {steps})"
    return None


def reconcile_invoices(
    submitted: Iterable[SubmittedInvoice],
    items: Mapping[str, Mapping[str, Any]],
    accounting: AccountingRecords,
    payments: PaymentRecords,
    dead_letter_ids: Iterable[str],
    starter_dlq_messages: int,
) -> InvoiceReconciliation:
    """Every accepted invoice against the invoices table (``items``: invoice id → item) and the
    partner's records; pure."""
    submitted = list(submitted)
    result = InvoiceReconciliation(submitted=len(submitted))
    booked: dict[str, list[str]] = {}
    for booking in accounting.bookings:
        booked.setdefault(str(booking.invoice.get("invoice_id")), []).append(booking.booking_id)
    charges = Counter(c.reference for c in payments.charges if c.refunded < c.amount)
    letters = set(dead_letter_ids)
    for invoice in submitted:
        if not invoice.accepted:
            continue
        result.accepted += 1
        invoice_id = str(invoice.invoice_id)
        bookings = booked.get(invoice_id, [])
        item = items.get(invoice_id)
        outcome = InvoiceOutcome(
            invoice.reference,
            invoice_id,
            str(item.get("status")) if item else "missing",
            len(bookings),
            charges[invoice.reference],
        )
        if item is None:
            result.lost += 1
            outcome.problem = "lost: accepted, not in the invoices table"
        else:
            outcome.problem = _problem(invoice, item, bookings, outcome.charges)
            result.succeeded += outcome.status == InvoiceStatus.SUCCEEDED
            result.not_succeeded += outcome.status != InvoiceStatus.SUCCEEDED
            result.booked_more_than_once += len(bookings) > 1
            result.half_done += outcome.problem is not None and outcome.status == InvoiceStatus.SUCCEEDED
        if invoice_id in letters:
            result.dead_lettered += 1
            outcome.problem = outcome.problem or "still in the invoice dead letters"
        result.outcomes.append(outcome)
    result.dead_lettered += starter_dlq_messages
    return result


class InvoicesObserver:
    """The drill's view of the stage: the invoices table and queues, and the partner's records."""

    def __init__(self, outputs: StackOutputs) -> None:
        self.sqs = outputs.client("sqs")
        self.store = InvoiceStore(outputs.client("dynamodb"), outputs.resource("InvoicesTable", PATTERN))
        self.invoices_queue = outputs.resource("InvoicesQueueUrl", PATTERN)
        self.starter_dlq = outputs.resource("InvoicesQueueDlqUrl", PATTERN)
        self.dead_letters = outputs.resource("InvoiceDeadLettersQueueUrl", PATTERN)
        booking = outputs.client("lambda").get_function_configuration(
            FunctionName=outputs.resource(output_name("InvoiceBookingFunction"), PATTERN)
        )
        self.booking_handler = str(booking.get("Handler", ""))
        partner_url = ((booking.get("Environment") or {}).get("Variables") or {}).get("PARTNER_URL", "")
        if not partner_url:
            raise HookstackError(
                f"the orchestration pattern of stage {outputs.stage} has no partner_url: set it "
                "(the partner simulator's URL, `hookstack partner`) and redeploy"
            )
        self.partner = PartnerClient(partner_url)

    def messages(self, queue_url: str) -> int:
        return sum(queue_depths(self.sqs, queue_url))

    def items(self, invoice_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {i: item for i in invoice_ids if (item := self.store.get(i)) is not None}


def _invoice(reference: str, payment: str) -> dict[str, Any]:
    return {
        "reference": reference,
        "customer": "outage-drill",
        "currency": "eur",
        "amount": 2 * 10_000 + 4_000,
        "payment": payment,
        "lines": [{"description": "licence", "quantity": 2, "unit_amount": 10_000, "tax_rate_bp": 2000}],
    }


class AccountingOutageDrill:
    def __init__(self, outputs: StackOutputs, settings: DrillSettings, progress: Callable[[str], None]) -> None:
        self.outputs = outputs
        self.settings = settings
        self.progress = progress
        self.run_id = secrets_module.token_hex(3)
        self.observer = InvoicesObserver(outputs)
        self.checks: list[Check] = []
        self.started = time.time()
        self.marks: list[dict[str, Any]] = []
        self.deadline = time.monotonic() + settings.max_seconds

    def mark(self, kind: str, detail: str = "") -> None:
        self.marks.append({"t": round(time.time() - self.started, 3), "kind": kind, "detail": detail})

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, bool(ok), detail))
        self.progress(f"{'ok ' if ok else 'FAILED'} check: {name}: {detail}")

    def preflight(self) -> None:
        unkeyed = self.observer.booking_handler.endswith(UNKEYED_HANDLER_SUFFIX)
        if unkeyed != (self.settings.sabotage == SABOTAGE):
            deployed = "the unkeyed booking step" if unkeyed else "the keyed booking step"
            raise HookstackError(
                f"stage {self.outputs.stage} deploys {deployed}: --sabotage {SABOTAGE} needs a stage with "
                f'orchestration_sabotage = "{SABOTAGE}", and only that stage does'
            )
        self.observer.partner.health()
        for what, url in (
            ("invoices queue", self.observer.invoices_queue),
            ("invoices queue's DLQ", self.observer.starter_dlq),
            ("invoice dead letters", self.observer.dead_letters),
        ):
            depth = self.observer.messages(url)
            if depth:
                raise HookstackError(
                    f"the {what} of stage {self.outputs.stage} holds {depth} message(s) from before this drill: "
                    "drills need a quiet stage"
                )

    def submit(self) -> list[SubmittedInvoice]:
        token = tenant_token(self.outputs)

        def one(index: int) -> SubmittedInvoice:
            reference = f"AO-{self.run_id}-{index:03d}"
            payment = "card" if index % 2 == 0 else "transfer"
            status, invoice_id = 0, None
            client = ApiClient(self.outputs.api_url, token, timeout=35)
            try:
                body = _invoice(reference, payment)
                answer = client.request(
                    "POST", "/invoices", json.dumps(body).encode(), {"Content-Type": "application/json"}
                )
                status = answer.status
                invoice_id = answer.json().get("id") if status == 202 else None
            except HookstackError:
                status = 0
            finally:
                client.close()
            return SubmittedInvoice(reference, payment, status, invoice_id)

        with ThreadPoolExecutor(max_workers=SUBMIT_THREADS) as pool:
            return list(pool.map(one, range(self.settings.events)))

    def wait_final(self, invoice_ids: list[str], phase: str) -> dict[str, dict[str, Any]]:
        """The invoices' items once all are final (SUCCEEDED or FAILED), or when the phase's time is up."""
        deadline = min(self.deadline, time.monotonic() + PHASE_S)
        items: dict[str, dict[str, Any]] = {}
        while True:
            items = self.observer.items(invoice_ids)
            final = [i for i in invoice_ids if i in items and InvoiceStatus(items[i]["status"]).final]
            if len(final) == len(invoice_ids):
                self.mark(f"{phase}_final", f"{len(final)} invoices final")
                return items
            if time.monotonic() >= deadline:
                self.mark(f"{phase}_timeout", f"{len(final)}/{len(invoice_ids)} invoices final")
                self.progress(f"{phase}: {len(final)}/{len(invoice_ids)} invoices final when the time was up")
                return items
            time.sleep(POLL_S)

    def outage_phase(self, invoice_ids: list[str]) -> None:
        items = self.wait_final(invoice_ids, "outage")
        compensated = [
            i
            for i in invoice_ids
            if items.get(i, {}).get("status") == InvoiceStatus.FAILED
            and str(items[i].get("reason", "")).startswith("AccountingUnavailable")
        ]
        self.check(
            "every invoice compensated with AccountingUnavailable during the outage",
            len(compensated) == len(invoice_ids),
            f"{len(compensated)}/{len(invoice_ids)} FAILED with AccountingUnavailable before the replay",
        )
        faulted = Counter(
            r.idempotency_key.split(":", 1)[0]
            for r in self.observer.partner.accounting().requests
            if r.fault is not None and r.idempotency_key
        )
        retried = sum(1 for i in invoice_ids if faulted[i] >= ATTEMPTS)
        self.check(
            f"every booking tried {ATTEMPTS} times against the outage",
            retried == len(invoice_ids),
            f"{retried}/{len(invoice_ids)} invoices' bookings answered {FAULT_STATUS} on {ATTEMPTS} attempts or more",
        )

    def replay_phase(self, invoice_ids: list[str]) -> list[str]:
        result = replay_invoices(
            self.observer.sqs,
            self.observer.store,
            self.observer.dead_letters,
            self.observer.invoices_queue,
            invoice_ids=invoice_ids,
        )
        self.mark("replay", f"{len(result.replayed)} replayed, {len(result.errors)} errors")
        self.progress(f"replayed {len(result.replayed)} invoice(s)")
        self.wait_final(invoice_ids, "replay")
        return result.errors

    def run(self) -> tuple[list[SubmittedInvoice], InvoiceReconciliation | None, list[str], str | None]:
        submitted: list[SubmittedInvoice] = []
        replay_errors: list[str] = []
        error = None
        partner = self.observer.partner
        try:
            self.mark("drill_start", NAME)
            partner.set_faults(
                "accounting", error_rate=1.0, fail_after_effect=True, status=FAULT_STATUS, seed=self.settings.seed
            )
            self.mark("fault_on", f"accounting: every answer {FAULT_STATUS}, after the booking")
            try:
                submitted = self.submit()
                invoice_ids = [str(s.invoice_id) for s in submitted if s.accepted]
                self.mark("send", f"{len(submitted)} invoices submitted, {len(invoice_ids)} accepted")
                self.progress(f"{len(submitted)} invoices submitted, {len(invoice_ids)} accepted")
                self.outage_phase(invoice_ids)
            finally:
                partner.clear_faults("accounting")
                self.mark("fault_off", "accounting recovered")
            replay_errors = self.replay_phase(invoice_ids)
        except HookstackError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the drill itself broke: FAIL with the cause, never a silent pass
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        if not submitted:
            return submitted, None, replay_errors, error
        ids = [str(s.invoice_id) for s in submitted if s.accepted]
        letters = [
            letter.invoice_id for letter in list_invoice_dead_letters(self.observer.sqs, self.observer.dead_letters)
        ]
        reconciliation = reconcile_invoices(
            submitted,
            self.observer.items(ids),
            partner.accounting(),
            partner.payments(),
            letters,
            self.observer.messages(self.observer.starter_dlq),
        )
        return submitted, reconciliation, replay_errors, error


def counts(reconciliation: InvoiceReconciliation | None) -> dict[str, Any]:
    """The drill's counts, under the names the other drills use where they mean the same."""
    r = reconciliation or InvoiceReconciliation()
    return {
        "sent": r.submitted,
        "acked": r.accepted,
        "processed": r.succeeded,
        "failed": r.not_succeeded,
        "lost": r.lost,
        "missing": r.lost,
        "duplicates_applied": r.booked_more_than_once,
        "half_done": r.half_done,
        "dead_lettered": r.dead_lettered,
    }


def run_accounting_outage(
    outputs: StackOutputs,
    settings: DrillSettings | None = None,
    *,
    progress: Callable[[str], None] = lambda message: None,
) -> DrillResult:
    """The drill end to end; a HookstackError when it cannot start (no orchestration pattern, no
    partner, a busy stage, the sabotage not the deployed variant), else a PASS/FAIL result."""
    settings = settings or DrillSettings(events=6)
    if settings.sabotage not in (None, SABOTAGE):
        raise HookstackError(f"{NAME} takes the {SABOTAGE} sabotage only, not {settings.sabotage}")
    started_at, started = time.time(), time.monotonic()
    drill = AccountingOutageDrill(outputs, settings, progress)
    drill.preflight()
    submitted, reconciliation, replay_errors, error = drill.run()
    failures = []
    if error:
        failures.append(f"drill error: {error.splitlines()[0]}")
    if reconciliation is None:
        failures.append("the drill did not reach the reconciliation")
    else:
        if reconciliation.accepted < reconciliation.submitted:
            failures.append(f"reconcile: {reconciliation.submitted - reconciliation.accepted} invoice(s) not accepted")
        failures.extend(f"reconcile: {problem}" for problem in reconciliation.problems[:10])
        if reconciliation.dead_lettered:
            failures.append(f"reconcile: {reconciliation.dead_lettered} message(s) left in the dead letters")
    failures.extend(f"replay: {e}" for e in replay_errors[:5])
    failures.extend(f"check failed: {c.name}: {c.detail}" for c in drill.checks if not c.ok)
    return DrillResult(
        drill=NAME,
        summary=SUMMARY,
        verdict="FAIL" if failures else "PASS",
        run_id=drill.run_id,
        target=outputs.target,
        stage=outputs.stage,
        settings={**settings.__dict__, "attempts": ATTEMPTS},
        timings={"phase_s": PHASE_S},
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 2),
        counts=counts(reconciliation),
        checks=[c.__dict__ for c in drill.checks],
        before_fix=None,
        after_replay=None,
        replay_errors=replay_errors,
        error=error,
        timeline={"started": drill.started, "samples": [], "marks": drill.marks},
        failures=failures,
        jobs=reconciliation.as_dict() if reconciliation else None,
        reconciliation_title="Invoices reconciliation",
    )
