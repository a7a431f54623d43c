"""The partner-throttling drill without a stage: the partner's records tallied, and an outcome
turned into the drills' result (verdict, counts, checks, the fault window) and its reports."""

from __future__ import annotations

import json

import pytest

from chaos.context import Check
from chaos.partner_throttling import (
    FAULT_BURST,
    FAULT_MARK,
    FAULT_RATE_PER_S,
    NAME,
    DrillOutcome,
    PartnerThrottlingError,
    delivery_checks,
    drill_result,
    run_partner_throttling,
    tally_delivery,
)
from chaos.report import fault_windows, render_html, write_reports
from stack.partner.records import TrickleRecord, TrickleRecords

SECOND_NS = 1_000_000_000


def record(
    seq: int, at_s: float, item: str, group: str, n: int, limit: float | None = FAULT_RATE_PER_S
) -> TrickleRecord:
    return TrickleRecord(
        seq=seq,
        at_ns=int(at_s * SECOND_NS),
        received_at=0,
        method="POST",
        path="/trickle/items",
        group=group,
        body=json.dumps({"id": item, "customer": group, "n": n}),
        status=200,
        rate_limit_per_s=limit,
        burst=FAULT_BURST,
    )


INSERTED = [(f"i-{n}", f"g{n % 2}", n) for n in range(4)]


def records(*accepted: TrickleRecord, rate_limited: int = 3, failed: int = 2) -> TrickleRecords:
    return TrickleRecords(accepted=list(accepted), rate_limited=rate_limited, failed=failed, dropped=0)


def test_every_item_once_in_order_within_the_limits_tallies_clean():
    tally = tally_delivery(
        records(
            record(0, 0.0, "i-0", "g0", 0),
            record(1, 1.0, "i-1", "g1", 1),
            record(2, 30.0, "i-2", "g0", 2, limit=10.0),
            record(3, 30.1, "i-3", "g1", 3, limit=10.0),
        ),
        INSERTED,
        left_on_queues=0,
    )
    assert (tally.delivered, tally.lost, tally.order_violations, tally.over_limit) == (4, 0, 0, [])
    assert (tally.most_in_1s, tally.limit_in_1s, tally.limit_in_1s_fault) == (2, 11, 3)
    assert all(check.ok for check in delivery_checks(tally))


def test_a_lost_item_a_group_out_of_order_and_a_burst_over_the_fault_limit_are_each_caught():
    burst = [record(k, 5.0 + k / 10, f"i-{k % 2}", "g0", 0) for k in range(4)]  # 4 in 1 s, 3 allowed
    tally = tally_delivery(
        records(record(10, 0.0, "i-3", "g1", 3), record(11, 0.5, "i-1", "g1", 1), *burst, rate_limited=0),
        INSERTED,
        left_on_queues=2,
    )
    assert tally.missing_ids == ["i-2"]
    assert tally.groups_out_of_order == ["g1"] and tally.order_violations == 1
    assert tally.over_limit == [f"{FAULT_RATE_PER_S:g}/s burst {FAULT_BURST}"]
    assert tally.most_in_1s_fault == 4 and tally.limit_in_1s is None
    failed = {check.name for check in delivery_checks(tally) if not check.ok}
    assert failed == {"nothing lost", "per-group order", "partner limit kept", "fault had an effect"}
    problems = tally.problems()
    assert "i-2: never accepted by the partner" in problems
    assert "2 message(s) left on the CDC queue and its DLQ" in problems


MARKS = [
    {"t": 0.2, "kind": "fault_on", "detail": FAULT_MARK},
    {"t": 0.4, "kind": "send", "detail": "4 items inserted"},
    {"t": 20.4, "kind": "fault_off", "detail": FAULT_MARK},
    {"t": 31.0, "kind": "drained", "detail": ""},
]


def converted(outcome: DrillOutcome | None, error: str | None = None):
    return drill_result(
        outcome,
        run_id="abc123",
        target="embedded",
        stage="chaoscdc",
        settings={"events": 4, "variant": outcome.variant if outcome else "real"},
        timings={"fault_s": 20.0, "drain_s": 180.0},
        started_at=1_700_000_000.0,
        duration_s=31.234,
        marks=MARKS,
        error=error,
    )


def clean_outcome(checks: list[Check]) -> DrillOutcome:
    tally = tally_delivery(
        records(*(record(n, float(n), item, group, n) for n, (item, group, _) in enumerate(INSERTED))),
        INSERTED,
        left_on_queues=0,
    )
    return DrillOutcome("real", len(INSERTED), checks, tally)


def test_an_outcome_whose_checks_all_held_is_a_pass_with_the_drills_counts_and_its_fault_window():
    result = converted(clean_outcome([Check("nothing lost", True, "0 of 4"), Check("per-group order", True, "")]))
    assert result.drill == NAME and result.verdict == "PASS" and result.failures == []
    assert result.duration_s == 31.23
    assert result.counts["inserted"] == 4 and result.counts["delivered"] == 4 and result.counts["missing"] == 0
    assert {"order_violations", "answered_429", "answered_503", "most_in_1s_fault", "limit_in_1s_fault"} <= set(
        result.counts
    )
    assert [c["name"] for c in result.checks] == ["nothing lost", "per-group order"]
    assert fault_windows(result.timeline["marks"], 31.0) == [(FAULT_MARK, 0.2, 20.4)]


def test_a_failed_check_fails_the_drill_and_names_the_check():
    checks = [Check("nothing lost", False, "3 of 4 never accepted; 0 left"), Check("per-group order", True, "")]
    result = converted(clean_outcome(checks))
    assert result.verdict == "FAIL"
    assert result.failures == ["check failed: nothing lost: 3 of 4 never accepted; 0 left"]


def test_a_drill_that_broke_before_its_tally_fails_with_the_cause():
    result = converted(None, error="PartnerThrottlingError: cdc-trickle failed (Unhandled)\ntraceback")
    assert result.verdict == "FAIL"
    assert result.failures == [
        "drill error: PartnerThrottlingError: cdc-trickle failed (Unhandled)",
        "the drill did not reach the reconciliation",
    ]
    assert result.checks == [] and result.jobs is None


def test_the_reports_show_the_delivery_reconciliation(tmp_path):
    checks = [Check("nothing lost", True, "0 of 4")]
    json_path, html_path = write_reports(converted(clean_outcome(checks)), tmp_path)
    document = json.loads(json_path.read_text())
    assert document["verdict"] == "PASS" and document["jobs"]["delivered"] == 4
    page = html_path.read_text()
    assert "<h2>Delivery reconciliation</h2>" in page and "Jobs reconciliation" not in page
    assert "items the partner accepted" in page
    assert "<summary>jobs</summary>" not in page  # no job rows to show
    assert render_html(converted(None, error="boom")).count("FAIL") >= 1


class RecordingPartner:
    """Just what the drill calls on the partner; no records."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def reset(self) -> None:
        self.calls.append("reset")

    def set_faults(self, api: str, **settings: object) -> None:
        self.calls.append(f"set {api}")

    def clear_faults(self, api: str) -> None:
        self.calls.append(f"clear {api}")

    def trickle(self) -> TrickleRecords:
        return records(rate_limited=0, failed=0)


def test_a_trickle_that_fails_during_the_fault_still_clears_the_partners_faults():
    partner = RecordingPartner()
    marks: list[str] = []

    def failing_fire():
        raise PartnerThrottlingError("cdc-trickle failed (Unhandled)")

    with pytest.raises(PartnerThrottlingError):
        run_partner_throttling(
            partner,  # type: ignore[arg-type]
            lambda: INSERTED,
            failing_fire,
            lambda: 0,
            mark=lambda kind, detail: marks.append(kind),
        )
    assert partner.calls == ["reset", "set trickle", "clear trickle"]
    assert marks == ["fault_on", "send", "fault_off"]
