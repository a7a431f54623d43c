"""The demo burst's accounting: exact percentiles, status counts, missing events."""

from __future__ import annotations

from collections import Counter

from stack.clients.providers.shopify import shopify_delivery
from stack.ops.demo import Ack, Outcomes, plan_deliveries, summary, warmup_summary
from stack.percentiles import percentile

DELIVERY = shopify_delivery("orders/create", "secret")


def test_nearest_rank_percentile():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_plan_has_the_poison_and_spreads_shops():
    plan = plan_deliveries("secret", 40, shops=4, poison=3)
    assert len(plan) == 40
    assert sum(1 for d in plan if b"deliberately schema-invalid" in d.body) == 3
    assert len({d.group_key for d in plan}) == 4


def test_summary_counts_every_ack_and_every_outcome():
    acks = [Ack(DELIVERY, 202, float(ms), f"evt_{ms}") for ms in range(1, 11)] + [Ack(DELIVERY, 503, 5.0, None, "x")]
    outcomes = Outcomes(
        statuses={**{f"evt_{ms}": "PROCESSED" for ms in range(1, 9)}, "evt_9": "DEAD_LETTERED", "evt_10": "RECEIVED"},
        e2e_ms=[100.0, 200.0],
        reasons=Counter({"schema": 1}),
    )
    result = summary(acks, outcomes, dlq=1, fire_seconds=2.0)
    assert result["requests"] == 11 and result["accepted"] == 10
    assert result["status_counts"] == {"202": 10, "503": 1}
    assert (result["processed"], result["dead_lettered"], result["missing"]) == (8, 1, 1)
    assert result["p99_ms"] == 10.0 and result["max_ms"] == 10.0
    assert result["achieved_rps"] == 5.5


def test_warmup_is_accounted_apart():
    acks = [Ack(DELIVERY, 202, 1500.0, "evt_a"), Ack(DELIVERY, 202, 20.0, "evt_b")]
    outcomes = Outcomes(statuses={"evt_a": "PROCESSED", "evt_b": "MISSING"})
    assert warmup_summary(acks, outcomes) == {
        "requests": 2,
        "accepted": 2,
        "max_ms": 1500.0,
        "processed": 1,
        "missing": 1,
    }


class _Table:
    """BatchGetItem over raw status items (numbers as DynamoDB sends them: text)."""

    def __init__(self, items: dict[str, dict]) -> None:
        self.items = items

    def batch_get_item(self, RequestItems):  # noqa: N803 - boto3's name
        ((table, request),) = RequestItems.items()
        keys = [key["id"]["S"] for key in request["Keys"]]
        return {"Responses": {table: [self.items[k] for k in keys if k in self.items]}}


def test_outcomes_follow_every_event_to_its_end():
    from types import SimpleNamespace

    from stack.ops.demo import await_outcomes

    items = {
        "evt_a": {
            "id": {"S": "evt_a"},
            "status": {"S": "PROCESSED"},
            "received_at": {"N": "1000"},
            "processed_at": {"N": "1250"},
        },
        "evt_b": {"id": {"S": "evt_b"}, "status": {"S": "DEAD_LETTERED"}, "reason": {"S": "schema: line_items"}},
    }
    outputs = SimpleNamespace(client=lambda service: _Table(items), events_table="events")
    polls = []
    outcomes = await_outcomes(outputs, ["evt_a", "evt_b"], on_poll=lambda done, total: polls.append((done, total)))
    assert outcomes.statuses == {"evt_a": "PROCESSED", "evt_b": "DEAD_LETTERED"} and not outcomes.timed_out
    assert outcomes.e2e_ms == [250.0] and outcomes.reasons == Counter({"schema: line_items": 1})
    assert polls == [(2, 2)]
    missing = await_outcomes(outputs, ["evt_a", "evt_c"], timeout_s=0.0)
    assert missing.timed_out and missing.statuses == {"evt_a": "PROCESSED", "evt_c": "MISSING"}
