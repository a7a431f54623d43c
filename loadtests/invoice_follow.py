"""After an ``invoice-batch`` load: follow each accepted invoice through ``GET /invoices/{id}``
until final (``loadtests.jobs_follow.follow_until_final``: bounded by a timeout, ended early once
no work is left), then read what the invoice items do not record: each execution's retries
(its history) and each invoice's bookings (the partner simulator's accounting records).

"Work left" is what can still move an invoice to its final status: messages on the invoices
queue (visible, in flight, delayed) and its DLQ, and the state machine's RUNNING executions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from loadtests.jobs_follow import ApiPoller
from loadtests.report.invoices import (
    BookingCheck,
    ExecutionRetries,
    FollowedInvoice,
    check_bookings,
    retries_in_history,
)
from loadtests.report.jobs import NOT_FOUND
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError
from stack.partner.client import PartnerClient, PartnerError
from stack.patterns.base import output_name

SCENARIO = "invoice-batch"
PATTERN = "orchestration"
QUEUE_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]
MAX_EXECUTION_PAGES = 50  # of 1,000 RUNNING executions each
MAX_HISTORY_PAGES = 10  # of 1,000 events each: an execution has a few dozen
HISTORY_READERS = 4
HISTORY_BUDGET_S = 120.0


@dataclass(frozen=True)
class InvoiceResources:
    """What the scenario reads on the stage: its queues, its state machine, its Task functions
    (function name → Task state) and the partner URL the steps call."""

    queue_url: str
    queue_dlq_url: str
    dead_letters_url: str
    state_machine_arn: str
    task_states: Mapping[str, str]
    partner_url: str

    @classmethod
    def from_outputs(cls, outputs: StackOutputs | None) -> InvoiceResources:
        """The stage's orchestration pattern and its partner URL; a one-line error (before any
        load) when it has neither."""
        fix = f"`hookstack up --pattern {PATTERN}` with partner_url in hookstack.toml"
        if outputs is None:
            raise HookstackError(
                f"--scenario {SCENARIO} follows invoices on a deployed stage: pass --target (and --stage) of one "
                f"with the orchestration pattern ({fix})"
            )
        booking = outputs.resource(output_name("InvoiceBookingFunction"), PATTERN)
        try:
            configuration = outputs.client("lambda").get_function_configuration(FunctionName=booking)
        except Exception as exc:  # noqa: BLE001 - boto3 raises many types; one line says which call failed
            raise HookstackError(f"cannot read the booking step's configuration ({booking}): {exc}") from None
        partner_url = ((configuration.get("Environment") or {}).get("Variables") or {}).get("PARTNER_URL", "")
        if not partner_url:
            raise HookstackError(
                f"the orchestration pattern of stage {outputs.stage!r} has no partner_url (its accounting and "
                f"payment APIs): set it in hookstack.toml (`hookstack partner` locally) and redeploy"
            )
        return cls(
            queue_url=outputs.resource("InvoicesQueueUrl", PATTERN),
            queue_dlq_url=outputs.resource("InvoicesQueueDlqUrl", PATTERN),
            dead_letters_url=outputs.resource("InvoiceDeadLettersQueueUrl", PATTERN),
            state_machine_arn=outputs.resource("InvoiceStateMachineArn", PATTERN),
            task_states=task_states(outputs),
            partner_url=partner_url,
        )


def task_states(outputs: StackOutputs) -> dict[str, str]:
    """Deployed function name → the Task state invoking it, from the stage's state machine."""
    from stack.config import load_config  # local: only this scenario needs the definition
    from stack.definition.state_machines import Branch, ParallelState, TaskState
    from stack.patterns.orchestration import invoice_state_machine

    found: dict[str, str] = {}

    def walk(branch: Branch) -> None:
        for name, state in branch.states.items():
            if isinstance(state, TaskState):
                function = outputs.resources.get(output_name(state.function))
                if function:
                    found[function] = name
            elif isinstance(state, ParallelState):
                for inner in state.branches:
                    walk(inner)

    walk(invoice_state_machine(load_config(stage=outputs.stage)))
    return found


@dataclass(frozen=True)
class StageWork:
    """What can still move an invoice on (``total``), and the invoice dead letters beside it."""

    queued: int  # the invoices queue: visible, in flight, delayed
    dlq: int  # its DLQ: starts that failed maxReceiveCount times
    running: int  # RUNNING executions of the state machine
    dead_letters: int  # compensated invoices waiting for a replay (final: not work left)

    @property
    def total(self) -> int:
        return self.queued + self.dlq + self.running


def _depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=QUEUE_ATTRIBUTES)["Attributes"]
    return sum(int(value) for value in attributes.values())


def running_executions(stepfunctions: Any, state_machine_arn: str) -> int:
    count, token = 0, None
    for _ in range(MAX_EXECUTION_PAGES):
        page = stepfunctions.list_executions(
            stateMachineArn=state_machine_arn,
            statusFilter="RUNNING",
            maxResults=1000,
            **({"nextToken": token} if token else {}),
        )
        count += len(page.get("executions", []))
        token = page.get("nextToken")
        if not token:
            break
    return count


def stage_work(sqs: Any, stepfunctions: Any, resources: InvoiceResources) -> StageWork:
    return StageWork(
        _depth(sqs, resources.queue_url),
        _depth(sqs, resources.queue_dlq_url),
        running_executions(stepfunctions, resources.state_machine_arn),
        _depth(sqs, resources.dead_letters_url),
    )


class InvoiceReader(ApiPoller):
    """``GET /invoices/{id}``."""

    def read(self, invoice_id: str) -> FollowedInvoice | None:
        """The invoice as the API shows it now; None when no answer came (read again next pass)."""
        answer = self.get(f"/invoices/{invoice_id}")
        if answer is None:
            return None
        status, document = answer
        if status == 404:
            return FollowedInvoice(invoice_id, NOT_FOUND)
        if status != 200 or not isinstance(document, dict):
            return None
        return FollowedInvoice.from_document(invoice_id, document)


def read_retries(
    stepfunctions: Any,
    invoices: Iterable[FollowedInvoice],
    steps: Mapping[str, str],
    *,
    budget_s: float = HISTORY_BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
) -> ExecutionRetries:
    """The retried attempts in the executions' histories (a few at a time, within ``budget_s``)."""
    arns = sorted({invoice.execution_arn for invoice in invoices if invoice.execution_arn})
    retries = ExecutionRetries(executions=len(arns))
    deadline = clock() + budget_s

    def history(arn: str) -> list[tuple[str, str]] | str:
        """The retried attempts of one execution, or why its history was not read."""
        if clock() > deadline:
            return "skipped"
        events: list[dict[str, Any]] = []
        token = None
        try:
            for _ in range(MAX_HISTORY_PAGES):
                page = stepfunctions.get_execution_history(
                    executionArn=arn,
                    maxResults=1000,
                    includeExecutionData=False,
                    **({"nextToken": token} if token else {}),
                )
                events += page.get("events", [])
                token = page.get("nextToken")
                if not token:
                    break
        except Exception:  # noqa: BLE001 - boto3 raises many types; an unreadable history is counted
            return "unreadable"
        return retries_in_history(events, steps)

    with ThreadPoolExecutor(max_workers=HISTORY_READERS) as pool:
        for found in pool.map(history, arns):
            if found == "unreadable":
                retries.unreadable += 1
            elif not isinstance(found, str):
                retries.read += 1
                for step, error in found:
                    retries.by_step[step] += 1
                    retries.by_error[error] += 1
    if retries.read < retries.executions:
        skipped = retries.executions - retries.read - retries.unreadable
        retries.reason = f"{retries.unreadable} histories unreadable, {skipped} not read within {budget_s:g} s"
    return retries


def partner_simulator(partner_url: str) -> tuple[PartnerClient | None, str | None]:
    """The partner simulator's client when ``partner_url`` is one (it answers its health route),
    else None and why not."""
    try:
        client = PartnerClient(partner_url)
        client.health()
    except PartnerError as exc:
        return None, f"partner_url {partner_url} is not the partner simulator ({exc}): bookings are not visible"
    return client, None


def read_bookings(
    partner: PartnerClient | None, reason: str | None, invoices: Iterable[FollowedInvoice]
) -> BookingCheck:
    """Each invoice's bookings at the accounting API, from the simulator's records."""
    if partner is None:
        return BookingCheck(False, reason or "no partner simulator")
    try:
        records = partner.accounting()
    except PartnerError as exc:
        return BookingCheck(False, f"the partner simulator's accounting records could not be read: {exc}")
    bookings = [(str(b.invoice.get("invoice_id")), b.booking_id, b.requests) for b in records.bookings]
    return check_bookings(invoices, bookings, records.dropped)
