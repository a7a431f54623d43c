"""The drills' reconciler on synthetic data: it must catch loss, duplication and reordering, and
accept exactly the outcomes the injected faults allow."""

from __future__ import annotations

import random

import pytest

from chaos.observe import DeadLetterView, LogEntry, Observation, ProjectionItem
from chaos.reconcile import reconcile
from chaos.traffic import Expectation, Ledger, PlannedEvent
from stack.clients.providers.shopify import shopify_delivery

SECRET = "shpss_test"
SHOPS = ("shop-a.myshopify.com", "shop-b.myshopify.com")


def scenario(events_per_group: int = 4, expectation: Expectation | None = None):
    """Two groups, events acknowledged in order, every one processed once, the log in order."""
    rng = random.Random(3)
    ledger = Ledger()
    planned = []
    for index in range(events_per_group * len(SHOPS)):
        shop = SHOPS[index % len(SHOPS)]
        delivery = shopify_delivery("orders/create", SECRET, shop=shop, rng=rng)
        planned.append(PlannedEvent(f"e{index:02d}", delivery, shop, expectation or Expectation()))
    ledger.plan(planned)
    for event in planned:
        ledger.record(event.key, 202, 12.0)
    observation = Observation()
    for order, event in enumerate(planned):
        observation.statuses[event.event_id] = {
            "status": "PROCESSED",
            "group": event.group,
            "processed_at": 1_000 + order,
            "attempts": 1,
        }
        observation.projections.append(ProjectionItem(f"demo#order#{order}", 1, frozenset({event.event_id})))
        observation.applied_log.setdefault(event.group, []).append(LogEntry(event.event_id, 0, 1_000 + order))
    return ledger, planned, observation


def dead_letter(
    observation: Observation, event: PlannedEvent, reason: str, *, status: str = "DEAD_LETTERED", in_dlq: bool = True
) -> None:
    observation.statuses[event.event_id] = {"status": status, "group": event.group, "reason": reason}
    observation.projections = [p for p in observation.projections if event.event_id not in p.applied_events]
    observation.applied_log[event.group] = [
        e for e in observation.applied_log[event.group] if e.event_id != event.event_id
    ]
    if in_dlq:
        observation.dead_letters[event.event_id] = DeadLetterView(event.event_id, reason, "transient", event.group)
        observation.dlq_depth += 1


def test_a_clean_run_reconciles():
    ledger, planned, observation = scenario()
    result = reconcile(ledger, observation, "before_fix")
    assert result.ok, result.problems
    assert (result.acked, result.processed, result.missing, result.duplicates_applied, result.order_violations) == (
        8,
        8,
        0,
        0,
        0,
    )


# --- loss ---------------------------------------------------------------------------------------


def test_loss_processed_status_without_a_business_write():
    ledger, planned, observation = scenario()
    observation.projections = [p for p in observation.projections if planned[3].event_id not in p.applied_events]
    result = reconcile(ledger, observation, "before_fix")
    assert not result.ok and result.missing == 1
    assert "lost write" in result.problems[0]


def test_loss_acknowledged_but_never_processed_nor_dead_lettered():
    ledger, planned, observation = scenario()
    observation.statuses[planned[5].event_id] = {"status": "RECEIVED", "group": planned[5].group}
    observation.projections = [p for p in observation.projections if planned[5].event_id not in p.applied_events]
    result = reconcile(ledger, observation, "before_fix")
    assert result.missing == 1 and "not processed and not in the DLQ" in result.problems[0]


def test_loss_acknowledged_with_no_trace_at_all():
    ledger, planned, observation = scenario()
    del observation.statuses[planned[0].event_id]
    observation.projections = [p for p in observation.projections if planned[0].event_id not in p.applied_events]
    assert reconcile(ledger, observation, "before_fix").missing == 1


def test_loss_in_a_replay_that_deleted_before_sending():
    ledger, planned, observation = scenario(
        expectation=Expectation("processed_or_dead_lettered", (r"injected fault x",))
    )
    dead_letter(observation, planned[2], "retries exhausted: injected fault x", in_dlq=False)
    observation.dlq_depth = 0
    result = reconcile(ledger, observation, "after_replay")
    assert result.missing == 1 and "not in the DLQ" in result.problems[0]


# --- duplication --------------------------------------------------------------------------------


def test_duplication_item_written_twice_for_one_event():
    ledger, planned, observation = scenario()
    observation.projections[4] = ProjectionItem(
        observation.projections[4].id, 2, observation.projections[4].applied_events
    )
    result = reconcile(ledger, observation, "before_fix")
    assert result.duplicates_applied == 1 and not result.ok
    assert "2 writes for 1 distinct events" in result.problems[0]


def test_duplication_seen_in_the_applied_log():
    ledger, planned, observation = scenario()
    group = planned[1].group
    observation.applied_log[group].append(LogEntry(planned[1].event_id, 0, 9_999))
    result = reconcile(ledger, observation, "before_fix")
    assert result.duplicates_applied == 1 and "applied 2 times" in " ".join(result.problems)


def test_duplication_one_event_applied_to_two_items():
    ledger, planned, observation = scenario()
    observation.projections.append(ProjectionItem("demo#order#other", 1, frozenset({planned[0].event_id})))
    assert reconcile(ledger, observation, "before_fix").duplicates_applied == 1


def test_other_drills_items_do_not_count():
    ledger, _, observation = scenario()
    observation.projections.append(ProjectionItem("demo#order#elsewhere", 5, frozenset({"evt_" + "0" * 32})))
    assert reconcile(ledger, observation, "before_fix").ok


# --- reordering ---------------------------------------------------------------------------------


def test_reordering_in_the_applied_log():
    ledger, planned, observation = scenario()
    group = planned[0].group
    log = observation.applied_log[group]
    log[1], log[2] = log[2], log[1]
    result = reconcile(ledger, observation, "before_fix")
    assert result.order_violations == 1 and not result.ok
    assert "applied after" in result.problems[0]


def test_reordering_from_processed_at_when_a_group_has_no_log():
    ledger, planned, observation = scenario()
    group = planned[1].group
    del observation.applied_log[group]
    first = planned[1]
    observation.statuses[first.event_id]["processed_at"] = 5_000  # applied after a later one
    result = reconcile(ledger, observation, "before_fix")
    assert result.order_violations == 1
    assert any("processed_at" in w for w in result.warnings)


def test_reference_order_is_the_acknowledgement_order():
    ledger, planned, observation = scenario()
    # A delivery refused first (503) and accepted later belongs after the events acked before it.
    late = planned[0]
    ledger.answers = [a for a in ledger.answers if a.key != late.key]
    ledger.record(late.key, 503, 5.0)
    ledger.record(late.key, 202, 5.0)
    group = late.group
    observation.applied_log[group] = [e for e in observation.applied_log[group] if e.event_id != late.event_id]
    observation.applied_log[group].append(LogEntry(late.event_id, 0, 99_999))
    result = reconcile(ledger, observation, "before_fix")
    assert result.ok, result.problems
    assert result.rejected == {"503": 1}


def test_replayed_events_are_not_held_to_the_original_order():
    ledger, planned, observation = scenario()
    group = planned[0].group
    observation.applied_log[group] = [e for e in observation.applied_log[group] if e.event_id != planned[0].event_id]
    observation.applied_log[group].append(LogEntry(planned[0].event_id, 1, 99_999))
    observation.statuses[planned[0].event_id]["replay_count"] = 1
    assert reconcile(ledger, observation, "after_replay").order_violations == 0


# --- dead letters -------------------------------------------------------------------------------


def test_dead_letter_with_the_injected_reason_is_accepted_before_the_fix_only():
    fault = Expectation("processed_or_dead_lettered", (r"injected fault outage-1\b",), "outage")
    ledger, planned, observation = scenario(expectation=fault)
    dead_letter(observation, planned[0], "retries exhausted: ClientError: ... injected fault outage-1")
    before = reconcile(ledger, observation, "before_fix")
    assert before.ok and before.dead_lettered == 1
    after = reconcile(ledger, observation, "after_replay")
    assert not after.ok and "still dead-lettered" in " ".join(after.problems)
    assert any("DLQ still holds" in p for p in after.problems)


def test_dead_letter_with_another_reason_is_unexpected():
    ledger, planned, observation = scenario(
        expectation=Expectation("processed_or_dead_lettered", (r"injected fault a\b",))
    )
    dead_letter(observation, planned[0], "retries exhausted: KeyError: 'id'")
    result = reconcile(ledger, observation, "before_fix")
    assert result.unexpected == 1 and "does not match" in result.problems[0]


def test_declared_outcomes_are_enforced_both_ways():
    schema = Expectation("dead_lettered", (r"schema mismatch.*\bline_items\b",), "drift:renamed_field")
    ledger, planned, observation = scenario(expectation=schema)
    result = reconcile(ledger, observation, "before_fix")  # everything processed: wrong for this case
    assert result.unexpected == len(planned)
    ledger, planned, observation = scenario()
    dead_letter(observation, planned[0], "schema mismatch: line_items: Field required")
    assert reconcile(ledger, observation, "before_fix").unexpected == 1  # expected processed


def test_a_group_moved_behind_its_failed_head_is_collateral_with_a_warning():
    fault = Expectation("processed_or_dead_lettered", (r"injected fault down\b",), "partner-down")
    ledger, planned, observation = scenario(expectation=fault)
    head, behind = planned[0], planned[2]  # same group, acknowledged in this order
    dead_letter(observation, head, "retries exhausted: PartnerCallError: (injected fault down)")
    dead_letter(
        observation,
        behind,
        "retries exhausted (moved by SQS redrive); see the event status for the error",
        status="RECEIVED",
    )
    result = reconcile(ledger, observation, "before_fix")
    assert result.ok, result.problems
    assert result.stale_status == 1 and "behind e00" in result.warnings[0]
    # Without a matching head in its group the same dead letter is unexplained.
    ledger, planned, observation = scenario(expectation=fault)
    dead_letter(observation, planned[2], "retries exhausted (moved by SQS redrive)", status="RECEIVED")
    assert reconcile(ledger, observation, "before_fix").unexpected == 1


def test_a_processed_event_with_a_copy_in_the_dlq_is_flagged():
    ledger, planned, observation = scenario()
    observation.dead_letters[planned[1].event_id] = DeadLetterView(planned[1].event_id, "x", "permanent", "g")
    assert reconcile(ledger, observation, "before_fix").unexpected == 1


@pytest.mark.parametrize("status", [500, 503, 0])
def test_unacknowledged_deliveries_are_not_expected_but_a_trace_is_reported(status):
    ledger, planned, observation = scenario()
    refused = planned[7]
    ledger.answers = [a for a in ledger.answers if a.key != refused.key]
    ledger.record(refused.key, status, 3.0)
    result = reconcile(ledger, observation, "before_fix")
    assert result.acked == 7
    assert any("never acknowledged" in w for w in result.warnings)  # it has a status item here
