"""The load report's forecast: the run's own rates and keys, against the stage's AWS limits."""

from __future__ import annotations

import json

import pytest

from loadtests.report import forecast as load_forecast
from loadtests.report import html as html_report
from loadtests.report import summary
from stack.ops.forecast import DeployedLimits
from tests.helpers.load_results import ORIGIN, synthetic_result
from tests.unit.loadtests.test_load_report import PER_HOP, drain_for

LIMITS = DeployedLimits(
    region="us-east-1",
    fifo_high_throughput=False,
    stage_rate_limit=1000.0,
    stage_burst_limit=2000,
    worker_batch_size=10,
    worker_max_concurrency=2,
    worker_timeout_s=30,
    max_receive_count=3,
)


def status_items(result: dict) -> list[dict]:
    """The status items of the synthetic run's acknowledged events: two shops; every fourth event
    writes one product, all within the first second."""
    items = []
    for index, event_id in enumerate(result["acked_ids"]):
        second = ORIGIN + index * 0.01
        items.append(
            {
                "id": event_id,
                "group": f"demo:shop-{index % 2}.myshopify.com",
                "applied_to": "demo#product#7" if index % 4 == 0 and index < 100 else f"demo#order#{index}",
                "received_at": int(second * 1000),
            }
        )
    items.append({"id": "evt_not_this_run", "group": "other", "applied_to": "x", "received_at": int(ORIGIN * 1000)})
    return items


def built_summary() -> tuple[dict, dict]:
    result = synthetic_result()
    built, _ = summary.build(result, target="embedded", drain=drain_for(result), per_hop=PER_HOP)
    return built, result


def test_the_keys_seen_are_the_runs_busiest_per_second():
    _, result = built_summary()
    keys = load_forecast.key_rates(status_items(result), set(result["acked_ids"]))
    assert keys.message_groups == 2  # the event from another run is not counted
    # 100 req/s over two shops, alternating: 50 events of each shop in a second.
    assert [count for _, count in keys.groups] == [50, 50]
    # One product took every fourth of the first hundred acknowledged events, all in one second.
    assert dict(keys.entities)["demo#product#7"] == 25


def test_the_summary_forecast_uses_the_runs_rates():
    built, result = built_summary()
    section = load_forecast.for_run(
        built, result, providers=["shopify"], scan=lambda: status_items(result), limits=LIMITS
    )
    json.dumps(section)  # summary.json must hold it
    assert section["offered_rps"] == 100.0 and section["achieved_rps"] == built["achieved_rps"]
    assert section["basis"] == "run on embedded"
    checks = {check["name"]: check for check in section["checks"]}
    # 100 sends/s against a plain FIFO queue's 300: not throttled.
    assert checks["sqs.send"]["quota"] == 300 and checks["sqs.send"]["demand"] == 100
    assert not checks["sqs.send"]["hit"]
    # The worker's measured REPORT duration (3 ms p50, the fixture gives no mean) per batch of 10.
    assert section["worker"]["batch_ms"] == 3.0
    assert section["worker"]["needed_concurrency"] == pytest.approx(100 * 0.003 / 10)
    # The hottest entity's peak second, at 2 WCU an event.
    hot = checks["dynamodb.hot_key.1"]
    assert hot["demand"] == section["keys_seen"]["busiest_entities"][0]["peak_events_per_s"] * 2
    assert section["keys_seen"]["message_groups"] == 2
    assert checks["provider.timeout"]["demand"] == pytest.approx(built["p99_ms"] / 1000)
    # API-path concurrency from the producer's own p99 (4 ms in the per-hop fixture), not the ack's.
    assert checks["lambda.concurrency"]["demand"] == pytest.approx(
        100 * 0.004 + section["worker"]["needed_concurrency"]
    )


def test_without_the_events_table_the_groups_are_the_plans():
    built, result = built_summary()
    section = load_forecast.for_run(built, result, providers=["shopify"], scan=None, limits=LIMITS)
    assert section["keys_seen"] is None
    assert "no hot keys given: DynamoDB partitions not forecast" in section["assumptions"]
    assert not any(check["name"].startswith("dynamodb") for check in section["checks"])


def test_the_html_report_has_an_on_aws_section():
    built, result = built_summary()
    built["forecast"] = load_forecast.for_run(
        built, result, providers=["shopify"], scan=lambda: status_items(result), limits=LIMITS
    )
    page = html_report.render(built, summary.series(result))
    on_aws = page.split("<h2>On AWS</h2>", 1)[1].split("<h2>", 1)[0]
    assert "SQS send (no high thr.)" in on_aws and "300 calls/s" in on_aws
    without = dict(built)
    del without["forecast"]
    assert "<h2>On AWS</h2>" not in html_report.render(without, summary.series(result))
