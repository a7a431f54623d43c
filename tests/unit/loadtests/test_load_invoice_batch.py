"""The invoice-batch scenario's pure parts: its shape, its invoices (held to the real intake and
the gateway's schema), the figures from hand-made invoice documents and execution histories, the
bookings check, the gates on its figures and their refusal elsewhere, the stage check."""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter

import pytest
from jsonschema import Draft4Validator

from handlers.invoices.contract import INVOICE_SUBMISSION_SCHEMA
from handlers.invoices.intake import read_invoice
from loadtests.invoice_follow import InvoiceResources
from loadtests.jobs_follow import follow_until_final
from loadtests.model.gates import INVOICE_METRIC_KEYS, JOBS_METRIC_KEYS, evaluate, parse_gate
from loadtests.model.invoice_traffic import InvoiceTraffic
from loadtests.model.params import LoadParams
from loadtests.model.schedule import planned_arrivals
from loadtests.partner_jobs import check_gates, with_default_gates
from loadtests.report import invoices_html
from loadtests.report.invoices import (
    BookingCheck,
    ExecutionRetries,
    FollowedInvoice,
    InvoiceFollowUp,
    check_bookings,
    figures,
    retries_in_history,
    step_latencies,
    timeline,
)
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError

_already = "LOCUST_SKIP_MONKEY_PATCH" in os.environ
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
try:
    from loadtests.locust.shapes import MonthEndInvoicing, create_shape
finally:
    if not _already:
        os.environ.pop("LOCUST_SKIP_MONKEY_PATCH", None)

T0 = 1_760_000_000_000  # epoch ms


# --- the shape and the invoices ------------------------------------------------------------------


def test_the_month_end_shape_is_the_base_rate_then_the_batch_at_peak_then_the_base_rate():
    shape = create_shape(LoadParams(scenario="invoice-batch", rate=2, duration=100))
    assert isinstance(shape, MonthEndInvoicing) and shape.peak == 10
    assert [shape.rate_at(t) for t in (0, 19.9, 20, 50, 69.9, 70, 99)] == [2, 2, 20, 20, 20, 2, 2]
    assert LoadParams(scenario="invoice-batch", rate=2).peak_rate() == 20
    # 50 % of the run at the base rate, 50 % at peak×: 2 × 10 × (0.5 + 0.5 × 5) = 60 invoices
    small = create_shape(LoadParams(scenario="invoice-batch", rate=2, duration=10, peak=5))
    assert planned_arrivals(small.rate_at, small.duration) == pytest.approx(60, abs=1)


def test_invoices_pass_the_gateway_schema_and_the_intake_with_unique_references():
    traffic = InvoiceTraffic(random.Random(3))
    planned = [traffic.invoice(payment) for payment in ("card", "transfer") * 20]
    for invoice in planned:
        document = json.loads(invoice.body)
        assert Draft4Validator(INVOICE_SUBMISSION_SCHEMA).is_valid(document)
        submission = read_invoice(invoice.body, 1024 * 1024)  # the intake's own checks, the amount included
        assert (submission.payment, submission.reference) == (invoice.payment, invoice.reference)
    assert len({invoice.reference for invoice in planned}) == len(planned)
    assert InvoiceTraffic(random.Random(3)).invoice("card").reference != planned[0].reference  # across runs too


# --- step latencies and the figures, from hand-made invoice documents ------------------------------


def _iso(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def _document(status: str, payment: str, submitted: int, steps: list[tuple[str, int]], **extra) -> dict:
    """As GET /invoices/{id} answers (handlers.invoices.query.invoice_document)."""
    updated = max([submitted, *(at for _, at in steps)])
    return {
        "id": "ignored",
        "status": status,
        "payment": payment,
        "round": 0,
        "submitted_at": _iso(submitted),
        "updated_at": _iso(updated),
        "steps": [{"step": step, "round": 0, "at_ms": at, "at": _iso(at)} for step, at in steps],
        "execution_arn": f"arn:aws:states:us-east-1:000000000000:execution:m:{submitted}",
        **extra,
    }


CARD = _document(
    "SUCCEEDED",
    "card",
    T0,
    [("booked", T0 + 900), ("saved", T0 + 1000), ("charged", T0 + 1300), ("completed", T0 + 1500)],
)
TRANSFER = _document(
    "SUCCEEDED", "transfer", T0 + 100, [("saved", T0 + 700), ("booked", T0 + 800), ("completed", T0 + 1100)]
)
COMPENSATED = _document(
    "FAILED",
    "card",
    T0 + 200,
    [("saved", T0 + 400), ("booked", T0 + 500), ("charged", T0 + 600), ("compensated", T0 + 2600)],
    reason="PaymentUnavailable: payment API answered 503",
    failed_error="PaymentUnavailable",
)


def test_step_latencies_count_from_what_each_step_waited_for():
    card = FollowedInvoice.from_document("inv_card", CARD)
    # saved and booked from the submission (side by side); charged from the later of the two
    assert step_latencies(card) == {"saved": 1000, "booked": 900, "charged": 300, "completed": 200}
    transfer = FollowedInvoice.from_document("inv_transfer", TRANSFER)
    assert step_latencies(transfer) == {"saved": 600, "booked": 700, "completed": 300}  # no charge: from the Parallel
    failed = FollowedInvoice.from_document("inv_failed", COMPENSATED)
    assert step_latencies(failed)["compensated"] == 2000  # from the step before it (charged)
    # A step of an earlier round (before a replay) is not this round's
    replayed = FollowedInvoice.from_document("inv_r", {**TRANSFER, "round": 1})
    assert step_latencies(replayed) == {}


def _follow(documents: dict[str, dict], *, work_left: int = 0, **kwargs) -> InvoiceFollowUp:
    invoices = {i: FollowedInvoice.from_document(i, d) for i, d in documents.items()}
    return InvoiceFollowUp(invoices, work_left, 12.0, False, 5, **kwargs)


def test_figures_count_every_accepted_invoice_once_and_time_the_batch():
    documents = {"inv_a": CARD, "inv_b": TRANSFER, "inv_c": COMPENSATED}
    running = _document("RUNNING", "card", T0 + 300, [("saved", T0 + 900)])
    follow = _follow({**documents, "inv_d": running, "inv_e": running}, work_left=1)
    fields = figures(
        follow,
        accepted_ids=["inv_a", "inv_b", "inv_c", "inv_d", "inv_e", "inv_f"],  # inv_f: never read
        submitted=7,
        status_counts={"202": 6, "503": 1},
        by_key={},
        request_prefix="invoices ",
    )
    block = fields["invoices"]
    assert (fields["succeeded"], fields["failed"], fields["unfinished"], fields["lost"]) == (2, 1, 1, 2)
    assert fields["compensated"] == 1 and block["failure_reasons"] == {COMPENSATED["reason"]: 1}
    assert block["refused_by_status"] == {"503": 1} and (block["submitted"], block["accepted"]) == (7, 6)
    assert fields["all_complete_s"] is None  # not every invoice is final
    # final latencies: 1500, 1000, 2400 ms; nearest rank
    assert (fields["invoices_p50_ms"], fields["invoices_max_ms"]) == (1500, 2400)
    # completions at T0+1100, +1500, +2600: 3 over a 1.5 s window
    assert block["completion_window_s"] == 1.5 and fields["executions_per_s"] == 2.0
    charged = block["steps"]["charged"]  # the card invoice 300 ms, the compensated one 100 ms
    assert block["steps"]["saved"]["count"] == 3 and (charged["p50_ms"], charged["max_ms"]) == (100, 300)
    assert fields["retries"] is None and fields["double_booked"] is None  # not read: not made up
    done = figures(
        _follow(documents), accepted_ids=list(documents), submitted=3, status_counts={}, by_key={}, request_prefix="x"
    )
    assert done["all_complete_s"] == 2.6 and done["lost"] == done["unfinished"] == 0  # T0 → T0+2600


def test_an_invoice_the_api_does_not_know_is_lost():
    follow = InvoiceFollowUp({"inv_x": FollowedInvoice("inv_x", "NOT_FOUND")}, 3, 1.0, False, 1)
    fields = figures(follow, accepted_ids=["inv_x"], submitted=1, status_counts={}, by_key={}, request_prefix="x")
    assert (fields["lost"], fields["unfinished"]) == (1, 0)  # work left elsewhere does not excuse a missing item


def test_not_followed_is_null_not_zero():
    fields = figures(
        None, accepted_ids=["a"], submitted=1, status_counts={}, by_key={}, request_prefix="x", reason="why"
    )
    assert fields["lost"] is None and fields["invoices_p99_ms"] is None
    assert fields["invoices"]["reason"] == "why"


def test_the_timeline_is_cumulative_per_second_since_the_load_started():
    follow = _follow({"inv_a": CARD, "inv_b": TRANSFER, "inv_c": COMPENSATED})
    course = timeline(follow, T0 / 1000)
    assert course["submitted"] == [[1, 3]]
    assert course["final"] == [[2, 2], [3, 3]]  # final at +1.1 s and +1.5 s, then +2.6 s


# --- retries from execution histories -------------------------------------------------------------

BOOKING = "arn:aws:lambda:us-east-1:000000000000:function:hookstack-dev-invoice-booking"
SAVE = "arn:aws:lambda:us-east-1:000000000000:function:hookstack-dev-invoice-save"
STEPS = {"hookstack-dev-invoice-booking": "BookInvoice", "hookstack-dev-invoice-save": "SaveInvoice"}


def _event(kind: str, resource: str, error: str | None = None) -> dict:
    details = {"resource": resource, **({"error": error} if error else {})}
    key = kind[0].lower() + kind[1:] + "EventDetails"
    return {"type": kind, key: details}


def test_retries_are_tasks_scheduled_again_after_a_failure_in_interleaved_branches():
    history = [
        {"type": "ParallelStateEntered", "stateEnteredEventDetails": {"name": "RecordInvoice"}},
        _event("TaskScheduled", SAVE),
        _event("TaskScheduled", BOOKING),
        _event("TaskFailed", SAVE, "Lambda.TooManyRequestsException"),
        _event("TaskFailed", BOOKING, "AccountingUnavailable"),
        _event("TaskScheduled", BOOKING),
        _event("TaskScheduled", SAVE),
        _event("TaskSucceeded", SAVE),
        _event("TaskFailed", BOOKING, "AccountingUnavailable"),  # the last attempt: not retried
    ]
    assert Counter(retries_in_history(history, STEPS)) == Counter(
        {("SaveInvoice", "Lambda.TooManyRequestsException"): 1, ("BookInvoice", "AccountingUnavailable"): 1}
    )
    # AWS names a direct Lambda Task's events LambdaFunction*
    aws = [
        _event("LambdaFunctionScheduled", BOOKING),
        _event("LambdaFunctionFailed", BOOKING, "X"),
        _event("LambdaFunctionScheduled", BOOKING),
    ]
    assert retries_in_history(aws, STEPS) == [("BookInvoice", "X")]


def test_bookings_are_checked_per_invoice_against_the_accounting_records():
    ok = FollowedInvoice("inv_a", "SUCCEEDED", booking_id="bk_1")
    twice = FollowedInvoice("inv_b", "SUCCEEDED", booking_id="bk_2")
    other = FollowedInvoice("inv_c", "SUCCEEDED", booking_id="bk_9")
    none = FollowedInvoice("inv_d", "SUCCEEDED")
    bookings = [("inv_a", "bk_1", 2), ("inv_b", "bk_2", 1), ("inv_b", "bk_3", 1), ("inv_c", "bk_4", 1)]
    check = check_bookings([ok, twice, other, none], bookings)
    assert (check.booked_once, check.double_booked, check.mismatched, check.not_booked) == (2, 1, 1, 1)
    assert check.repeated_requests == 1
    assert not check_bookings([ok], bookings, dropped=5).measured  # a truncated log cannot tell


def test_retries_and_bookings_reach_the_gated_figures():
    follow = _follow(
        {"inv_a": CARD},
        retries=ExecutionRetries(executions=1, read=1, by_step=Counter({"SaveInvoice": 3})),
        bookings=BookingCheck(True, double_booked=1),
    )
    fields = figures(follow, accepted_ids=["inv_a"], submitted=1, status_counts={}, by_key={}, request_prefix="x")
    assert (fields["retries"], fields["double_booked"]) == (3, 1)
    results = evaluate(
        [parse_gate("double_booked==0"), parse_gate("retries<=3"), parse_gate("invoices_p99<2s")], fields
    )
    assert [r.passed for r in results] == [False, True, True]
    page = invoices_html.section(fields, {"invoices_final_bins": [], "invoices_timeline": timeline(follow, T0 / 1000)})
    assert "Submit → final status" in page and "<svg" in page and "booked more than once" in page


# --- gates ------------------------------------------------------------------------------------------


def test_gates_on_the_invoice_figures_parse_with_their_units():
    gate = parse_gate("invoices_p99<30s")
    assert (gate.metric.key, gate.threshold) == ("invoices_p99_ms", 30_000)
    assert parse_gate("all_complete<120s").metric.key == "all_complete_s"
    assert parse_gate("executions_per_s>=5/s").metric.key == "executions_per_s"
    assert {"invoices_p99_ms", "all_complete_s", "executions_per_s", "double_booked", "lost"} <= INVOICE_METRIC_KEYS
    assert "executions_per_s" not in JOBS_METRIC_KEYS  # a rate of this scenario is not a partner-jobs figure


@pytest.mark.parametrize(
    ("gate", "scenario", "refused_as"),
    [
        ("invoices_p99<30s", "steady", "invoices (--scenario invoice-batch)"),
        ("double_booked==0", "partner-jobs", "invoices (--scenario invoice-batch)"),
        ("final_p99<30s", "invoice-batch", "partner jobs (--scenario partner-jobs)"),
        ("jobs_per_s>=1", "invoice-batch", "partner jobs (--scenario partner-jobs)"),
        ("e2e_p99<5s", "invoice-batch", "webhook events"),
        ("missing==0", "invoice-batch", "webhook events"),
        ("lost==0", "flash-sale", "partner jobs or invoices"),
    ],
)
def test_a_gate_the_scenario_does_not_measure_is_refused_before_the_run(gate, scenario, refused_as):
    with pytest.raises(HookstackError, match=re.escape(gate) + ".* measure " + re.escape(refused_as)):
        check_gates([parse_gate(gate)], scenario)


def test_the_gates_the_invoice_scenario_measures_pass_the_check():
    check_gates(
        [parse_gate(g) for g in ("p99<1s", "errors<1%", "lost==0", "succeeded>=1", "all_complete<60s")], "invoice-batch"
    )
    check_gates([parse_gate("lost==0"), parse_gate("final_p99<1s")], "partner-jobs")
    assert [g.text for g in with_default_gates([])] == ["lost==0"]


# --- the stage ----------------------------------------------------------------------------------------


def _outputs(resources: dict[str, str]) -> StackOutputs:
    return StackOutputs(
        target="embedded",
        stage="dev",
        region="us-east-1",
        stack_name="hookstack-dev",
        api_id="x",
        api_url="http://127.0.0.1:1/dev",
        gateway="hookstack",
        artifacts_bucket="b",
        function_names={},
        resources=resources,
    )


def test_a_stage_without_the_orchestration_pattern_or_partner_url_is_a_one_line_error(monkeypatch):
    with pytest.raises(HookstackError, match="--target"):
        InvoiceResources.from_outputs(None)
    with pytest.raises(HookstackError) as error:
        InvoiceResources.from_outputs(_outputs({"QueueUrl": "q"}))
    assert "hookstack up --pattern orchestration" in str(error.value) and "\n" not in str(error.value)

    class Lambda:
        def get_function_configuration(self, FunctionName):  # noqa: N803 - boto3's parameter name
            return {"Environment": {"Variables": {"PARTNER_URL": ""}}}

    monkeypatch.setattr(StackOutputs, "client", lambda self, service: Lambda())
    with pytest.raises(HookstackError, match="no partner_url") as error:
        InvoiceResources.from_outputs(_outputs({"InvoiceBookingFunctionName": "hookstack-dev-invoice-booking"}))
    assert "\n" not in str(error.value)


# --- the follow-up's count of work left ------------------------------------------------------------


def test_work_left_is_counted_before_the_reads_so_an_invoice_finishing_meanwhile_is_not_lost():
    counts = iter([1, 0, 0])  # running when counted; finished right after its (not final) read

    def read(invoice_id: str) -> FollowedInvoice:
        return FollowedInvoice(invoice_id, "RUNNING")

    done = follow_until_final(
        ["inv_a"], read, unread=FollowedInvoice, work_left=lambda: next(counts), timeout_s=0.0, sleep=lambda s: None
    )
    assert done.timed_out and done.left == 1 and done.passes == 1
