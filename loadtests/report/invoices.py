"""The ``invoice-batch`` figures: what became of every accepted invoice, from the follow-up's last
read of ``GET /invoices/{id}``, the executions' histories and the accounting API's records. Pure:
the follow-up (``loadtests.invoice_follow``) hands in what it read.

Every accepted invoice (a 202 with an id) ends in exactly one of ``succeeded`` / ``failed`` (its
final status), ``unfinished`` (not final while work was left: a message on the invoices queue or
its DLQ, or a running execution) or ``lost`` (no item, or not final with no work left: per run,
the not-final invoices beyond the work left).

Times are the stack's own stamps in the invoice item: ``submitted_at`` (the intake), each step's
``at_ms`` in the step history, ``updated_at`` (the last write: the final one for a final invoice).
A step's latency is the time from what it waited for to its record (``STEP_BASIS``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from handlers.invoices.contract import InvoiceStatus
from loadtests.report.jobs import FINAL_PERCENTILES, NOT_FOUND, ack_by_size_class, epoch_ms, log_bins_ms
from stack.percentiles import percentiles

FINAL_STATUSES = (InvoiceStatus.SUCCEEDED.value, InvoiceStatus.FAILED.value)
STEP_PERCENTILES = {"p50": 50, "p90": 90, "p99": 99, "max": 100}
# The step history's entries (handlers/invoices: record, booking, payment, completion, compensation)
# and what each one's latency is measured from. SaveInvoice and BookInvoice run side by side in
# the Parallel state after ComputeTotals (which records nothing), so both count from the
# submission: the queue, the starter and the execution's start are in them.
STEP_BASIS: dict[str, str] = {
    "saved": "submitted_at → saved (queue, starter, execution start, ComputeTotals, SaveInvoice)",
    "booked": "submitted_at → booked (queue, starter, execution start, ComputeTotals, BookInvoice)",
    "charged": "the later of saved and booked (the Parallel state's end) → charged",
    "completed": "charged (card) or the Parallel state's end (transfer) → completed",
    "compensated": "the step before it (or submitted_at) → compensated",
}
STEPS = tuple(STEP_BASIS)
FINAL_BASIS = "updated_at - submitted_at of each final invoice's item (the intake, then its last step)"
RATE_BASIS = "final invoices / (last - first final updated_at): the completion window"
MAX_REASONS = 10


@dataclass(frozen=True)
class StepEntry:
    step: str
    round: int
    at_ms: float


@dataclass(frozen=True)
class FollowedInvoice:
    """The last read of one accepted invoice (``NOT_FOUND`` for a 404, status None while no read
    answered), with what the report needs of its item."""

    invoice_id: str
    status: str | None = None
    payment: str | None = None
    round: int = 0
    submitted_ms: float | None = None
    updated_ms: float | None = None
    steps: tuple[StepEntry, ...] = ()
    booking_id: str | None = None
    failed_error: str | None = None
    reason: str | None = None
    execution_arn: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def from_document(cls, invoice_id: str, document: Mapping[str, Any]) -> FollowedInvoice:
        """From ``GET /invoices/{id}``'s answer (``handlers.invoices.query.invoice_document``)."""
        steps = tuple(
            StepEntry(str(entry["step"]), int(entry.get("round") or 0), float(entry["at_ms"]))
            for entry in document.get("steps") or []
            if isinstance(entry, Mapping) and "step" in entry and "at_ms" in entry
        )

        def text(name: str) -> str | None:
            value = document.get(name)
            return str(value) if value is not None else None

        return cls(
            invoice_id,
            text("status"),
            text("payment"),
            int(document.get("round") or 0),
            epoch_ms(document.get("submitted_at")),
            epoch_ms(document.get("updated_at")),
            steps,
            text("booking_id"),
            text("failed_error"),
            text("reason"),
            text("execution_arn"),
        )


def step_latencies(invoice: FollowedInvoice) -> dict[str, float]:
    """Each recorded step of the invoice's round → ms from what it waited for (``STEP_BASIS``)."""
    if invoice.submitted_ms is None:
        return {}
    at = {entry.step: entry.at_ms for entry in invoice.steps if entry.round == invoice.round}
    submitted = invoice.submitted_ms
    out: dict[str, float] = {}
    for step in ("saved", "booked"):
        if step in at:
            out[step] = at[step] - submitted
    parallel_end = max(at["saved"], at["booked"]) if "saved" in at and "booked" in at else None
    if "charged" in at and parallel_end is not None:
        out["charged"] = at["charged"] - parallel_end
    before_completion = at.get("charged", parallel_end)
    if "completed" in at and before_completion is not None:
        out["completed"] = at["completed"] - before_completion
    if "compensated" in at:
        earlier = [a for s, a in at.items() if s != "compensated" and a <= at["compensated"]]
        out["compensated"] = at["compensated"] - max(earlier, default=submitted)
    return {step: max(0.0, ms) for step, ms in out.items()}


@dataclass
class ExecutionRetries:
    """Attempts beyond the first per Task state, from the executions' histories."""

    executions: int = 0  # executions the follow-up knew of (an execution ARN on the item)
    read: int = 0  # histories read
    by_step: Counter[str] = field(default_factory=Counter)
    by_error: Counter[str] = field(default_factory=Counter)  # the error each retried attempt failed with
    unreadable: int = 0
    reason: str | None = None  # why not every history was read

    @property
    def total(self) -> int:
        return sum(self.by_step.values())


SCHEDULED_EVENTS = ("TaskScheduled", "LambdaFunctionScheduled")
FAILED_EVENTS = ("TaskFailed", "TaskTimedOut", "LambdaFunctionFailed", "LambdaFunctionTimedOut")


def retries_in_history(events: Iterable[Mapping[str, Any]], steps: Mapping[str, str]) -> list[tuple[str, str]]:
    """(step, error) of each retried attempt in one execution's history: a Task scheduled again
    after it failed. ``steps`` maps a Task's function (ARN or name) to the step's name; every Task
    of the state machine has its own function, so the function tells the Task apart in the
    Parallel state's interleaved branches."""
    failed: dict[str, str] = {}  # step → the error of its last failed attempt, until scheduled again
    retried: list[tuple[str, str]] = []
    for event in events:
        kind = str(event.get("type", ""))
        details = next((value for key, value in event.items() if key.endswith("EventDetails")), None)
        if kind not in SCHEDULED_EVENTS + FAILED_EVENTS or not isinstance(details, Mapping):
            continue
        step = step_of(str(details.get("resource", "")), steps)
        if kind in FAILED_EVENTS:
            failed[step] = str(details.get("error") or kind)
        elif step in failed:
            retried.append((step, failed.pop(step)))
    return retried


def step_of(resource: str, steps: Mapping[str, str]) -> str:
    function = resource.rsplit(":function:", 1)[-1].split(":", 1)[0]
    return steps.get(function, function or "unknown")


@dataclass
class BookingCheck:
    """Each accepted invoice's bookings at the accounting API (the partner simulator's records)."""

    measured: bool
    reason: str | None = None
    booked_once: int = 0
    double_booked: int = 0
    not_booked: int = 0  # SUCCEEDED without a booking in the records
    mismatched: int = 0  # the item's booking id is not the one the API booked
    repeated_requests: int = 0  # requests answered from the idempotency store (retries that reached it)

    def as_dict(self) -> dict[str, Any]:
        if not self.measured:
            return {"measured": False, "reason": self.reason}
        return {
            "measured": True,
            "booked_once": self.booked_once,
            "double_booked": self.double_booked,
            "not_booked": self.not_booked,
            "mismatched": self.mismatched,
            "repeated_requests": self.repeated_requests,
        }


def check_bookings(
    invoices: Iterable[FollowedInvoice], bookings: Iterable[tuple[str, str, int]], dropped: int = 0
) -> BookingCheck:
    """``bookings``: (invoice id, booking id, requests) per booking the accounting API made."""
    if dropped:
        return BookingCheck(False, f"the partner's accounting records dropped {dropped} entries: not all bookings seen")
    booked: dict[str, list[tuple[str, int]]] = {}
    for invoice_id, booking_id, requests in bookings:
        booked.setdefault(invoice_id, []).append((booking_id, requests))
    check = BookingCheck(True)
    for invoice in invoices:
        made = booked.get(invoice.invoice_id, [])
        check.repeated_requests += sum(requests - 1 for _, requests in made)
        if len(made) > 1:
            check.double_booked += 1
        elif len(made) == 1:
            check.booked_once += 1
            if invoice.booking_id is not None and invoice.booking_id != made[0][0]:
                check.mismatched += 1
        elif invoice.status == InvoiceStatus.SUCCEEDED:
            check.not_booked += 1
    return check


@dataclass(frozen=True)
class InvoiceFollowUp:
    """What the follow-up read: the last state of each accepted invoice, the work left when it ended."""

    invoices: Mapping[str, FollowedInvoice]
    work_left: int  # invoices queue (visible, in flight, delayed) + its DLQ + RUNNING executions
    waited_s: float
    timed_out: bool
    passes: int
    retries: ExecutionRetries | None = None
    bookings: BookingCheck | None = None


def _ms_figures(values: Sequence[float], points: Mapping[str, float]) -> dict[str, Any]:
    return {
        "count": len(values),
        **{f"{name}_ms": value for name, value in percentiles(list(values), points, digits=3).items()},
    }


def final_ms(invoices: Iterable[FollowedInvoice]) -> list[float]:
    return [
        max(0.0, invoice.updated_ms - invoice.submitted_ms)
        for invoice in invoices
        if invoice.final and invoice.updated_ms is not None and invoice.submitted_ms is not None
    ]


def _step_figures(invoices: Iterable[FollowedInvoice]) -> dict[str, Any]:
    per_step: dict[str, list[float]] = {step: [] for step in STEPS}
    for invoice in invoices:
        for step, ms in step_latencies(invoice).items():
            per_step.setdefault(step, []).append(ms)
    return {
        step: {**_ms_figures(values, STEP_PERCENTILES), "basis": STEP_BASIS.get(step)}
        for step, values in per_step.items()
    }


def _failure_reasons(invoices: Iterable[FollowedInvoice]) -> dict[str, int]:
    reasons = Counter(
        (invoice.reason or invoice.failed_error or "no reason recorded")[:160]
        for invoice in invoices
        if invoice.status == InvoiceStatus.FAILED
    )
    return dict(reasons.most_common(MAX_REASONS))


EMPTY = {
    **{f"invoices_{name}_ms": None for name in FINAL_PERCENTILES},
    "succeeded": None,
    "failed": None,
    "unfinished": None,
    "lost": None,
    "compensated": None,
    "all_complete_s": None,
    "executions_per_s": None,
    "retries": None,
    "double_booked": None,
}


def figures(
    follow: InvoiceFollowUp | None,
    *,
    accepted_ids: Iterable[str],
    submitted: int,
    status_counts: Mapping[str, int],
    by_key: Mapping[str, Any],
    request_prefix: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Summary fields: flat ones the gates and baselines read (``invoices_p99_ms``, ``succeeded``,
    ``failed``, ``unfinished``, ``lost``, ``compensated``, ``all_complete_s``, ``executions_per_s``,
    ``retries``, ``double_booked``), and the ``invoices`` block."""
    accepted = sorted(set(accepted_ids))
    block: dict[str, Any] = {
        "submitted": submitted,
        "accepted": len(accepted),
        "refused_by_status": {status: n for status, n in sorted(status_counts.items()) if not status.startswith("2")},
        "ack_by_payment": ack_by_size_class(by_key, request_prefix),
    }
    if follow is None:
        return {**EMPTY, "invoices": {**block, "followed": False, "reason": reason or "not followed"}}
    invoices = [follow.invoices.get(invoice_id) or FollowedInvoice(invoice_id) for invoice_id in accepted]
    succeeded = sum(1 for i in invoices if i.status == InvoiceStatus.SUCCEEDED)
    failed = sum(1 for i in invoices if i.status == InvoiceStatus.FAILED)
    no_item = sum(1 for i in invoices if i.status == NOT_FOUND)
    not_final = len(invoices) - succeeded - failed - no_item
    unfinished = min(not_final, follow.work_left)
    lost = no_item + not_final - unfinished
    compensated = sum(1 for i in invoices if any(e.step == "compensated" and e.round == i.round for e in i.steps))
    final = [i for i in invoices if i.final]
    ends = [i.updated_ms for i in final if i.updated_ms is not None]
    starts = [i.submitted_ms for i in invoices if i.submitted_ms is not None]
    all_final = bool(invoices) and len(final) == len(invoices)
    all_complete_s = round((max(ends) - min(starts)) / 1000, 3) if all_final and ends and starts else None
    window_s = (max(ends) - min(ends)) / 1000 if len(ends) > 1 else 0.0
    final_values = final_ms(invoices)
    latency = _ms_figures(final_values, FINAL_PERCENTILES)
    retries, bookings = follow.retries, follow.bookings
    retries_block: dict[str, Any] = {"measured": False, "reason": "the executions' histories were not read"}
    if retries is not None:
        retries_block = {
            "measured": retries.read > 0,
            "basis": "the executions' histories: a Task scheduled again after it failed",
            "executions": retries.executions,
            "histories_read": retries.read,
            "unreadable": retries.unreadable,
            "by_step": dict(retries.by_step.most_common()),
            "by_error": dict(retries.by_error.most_common()),
            "reason": retries.reason,
        }
    block.update(
        {
            "followed": True,
            "succeeded": succeeded,
            "failed": failed,
            "unfinished": unfinished,
            "lost": lost,
            "lost_no_item": no_item,
            "compensated": compensated,
            "failure_reasons": _failure_reasons(invoices),
            "by_payment": dict(Counter(i.payment or "unknown" for i in final)),
            "work_left": follow.work_left,
            "final_basis": FINAL_BASIS,
            "final": latency,
            "steps": _step_figures(final),
            "all_complete_basis": "last final updated_at - first submitted_at, when every accepted invoice is final",
            "completion_window_s": round(window_s, 3),
            "executions_per_s_basis": RATE_BASIS,
            "retries": retries_block,
            "bookings": (bookings or BookingCheck(False, "not checked")).as_dict(),
            "waited_s": round(follow.waited_s, 1),
            "follow_timed_out": follow.timed_out,
            "polls": follow.passes,
        }
    )
    return {
        **{f"invoices_{name}": value for name, value in latency.items() if name != "count"},
        "succeeded": succeeded,
        "failed": failed,
        "unfinished": unfinished,
        "lost": lost,
        "compensated": compensated,
        "all_complete_s": all_complete_s,
        "executions_per_s": round(len(ends) / window_s, 3) if window_s > 0 else None,
        "retries": retries.total if retries is not None and retries.read > 0 else None,
        "double_booked": bookings.double_booked if bookings is not None and bookings.measured else None,
        "invoices": block,
    }


def timeline(follow: InvoiceFollowUp | None, origin_epoch: float) -> dict[str, list[list[float]]]:
    """Accepted and final invoices, cumulative, over seconds since the load started (the report's plot)."""
    if follow is None:
        return {"submitted": [], "final": []}

    def cumulative(stamps: Iterable[float]) -> list[list[float]]:
        # One point per second (the count by its end): thousands of invoices stay a small plot.
        per_second = Counter(math.floor(ms / 1000 - origin_epoch) for ms in stamps)
        total, points = 0, list[list[float]]()
        for second in sorted(per_second):
            total += per_second[second]
            points.append([second + 1, total])
        return points

    invoices = list(follow.invoices.values())
    return {
        "submitted": cumulative(i.submitted_ms for i in invoices if i.submitted_ms is not None),
        "final": cumulative(i.updated_ms for i in invoices if i.final and i.updated_ms is not None),
    }


def final_bins(follow: InvoiceFollowUp | None) -> list[list[float]]:
    return log_bins_ms(final_ms(follow.invoices.values())) if follow is not None else []
