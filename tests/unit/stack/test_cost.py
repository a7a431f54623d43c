"""The AWS cost estimate, checked against figures worked out by hand from the list prices.

Expected values are written as the arithmetic a person would do (count × price), not computed
with the module's helpers, so a wrong formula in ``stack.ops.cost`` cannot agree with itself.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from stack.cli.cost import cost
from stack.errors import HookstackError
from stack.ops.cost import (
    CONFIRM_FLAG,
    CostConfig,
    estimate_cost,
    estimate_for_plan,
    format_usd,
    load_prices,
    require_cost_confirmation,
    worker_write_comparison,
)

# us-east-1 list prices, per unit, as a person reads them off the pricing pages.
APIGW = 3.50 / 1_000_000
LAMBDA_REQ = 0.20 / 1_000_000
GBS_X86 = 0.0000166667
GBS_ARM = 0.0000133334
SQS_FIFO = 0.50 / 1_000_000
WRU = 0.625 / 1_000_000
RRU = 0.125 / 1_000_000
S3_PUT = 0.005 / 1000
S3_GET = 0.0004 / 1000
LOGS_GB = 0.50
GIB = 1024**3

# Every assumption spelled out, so the hand figures below do not depend on defaults.
CONFIG = CostConfig(
    memory_mb={"authorizer": 256, "producer": 512, "worker": 1024, "status": 256},
    architecture="x86_64",
    duration_ms={"authorizer": 20, "producer": 50, "worker": 100, "status": 20},
    init_ms=1000,
    authorizer_cache_ttl_s=300,
    authorizer_cache_hit_ratio=0.9,
    tenants=1,
    worker_messages_per_batch=1,
    worker_max_concurrency=2,
    producer_writes_per_event=1,
    worker_writes_per_event=4,
    worker_reads_per_event=0,
    status_reads_per_request=1,
    body_bytes=8192,
    message_attribute_bytes=512,
    claim_check_bytes=200 * 1024,
    log_bytes_per_invocation=1000,
)

# A 100 s run: 10,000 requests, 9,000 accepted, 500 throttled, 300 refused, 200 bad input.
REPORT = {
    "requests": 10_000,
    "accepted": 9_000,
    "status_counts": {"202": 9_000, "429": 500, "403": 300, "400": 200},
    "achieved_rps": 100.0,
    "duration_s": 100.0,
    "per_hop": {
        "authorizer": {"p50_ms": 10.0, "mean_ms": 12.4, "count": 950},
        "producer": {"p50_ms": 40.0, "mean_ms": 45.2, "count": 9_500},
        "worker": {"p50_ms": 70.0, "mean_ms": 80.0, "count": 9_000},
    },
}


@pytest.fixture(scope="module")
def prices():
    return load_prices()


def test_known_report_line_by_line(prices):
    estimate = estimate_cost(REPORT, prices, config=CONFIG)

    # API Gateway bills every request the stage received, throttled ones included.
    assert estimate.line("REST API requests").usd == pytest.approx(10_000 * APIGW)
    # Authorizer: 10,000 - 500 throttled = 9,500 reach it; 10 % miss the cache -> 950.
    # Producer: every ingest request not throttled -> 9,500. Worker: one per message -> 9,000.
    invocations = estimate.line("invocations")
    assert invocations.quantity == 950 + 9_500 + 9_000
    assert invocations.usd == pytest.approx(19_450 * LAMBDA_REQ)
    # Duration: each mean rounded up to the ms, times memory in GB.
    gbs = 950 * 0.013 * 0.25 + 9_500 * 0.046 * 0.5 + 9_000 * 0.080 * 1.0
    assert gbs == pytest.approx(941.5875)
    assert estimate.line("duration").quantity == pytest.approx(gbs)
    assert estimate.line("duration").usd == pytest.approx(gbs * GBS_X86)
    # Cold starts (Little's law): authorizer 9.5/s x 12.4 ms -> 1 environment; producer
    # 95/s x 45.2 ms = 4.29 -> 5; worker 90/s x 80 ms = 7.2 -> 8, capped at concurrency 2.
    init_gbs = 1 * 1.0 * 0.25 + 5 * 1.0 * 0.5 + 2 * 1.0 * 1.0
    assert estimate.line("INIT").quantity == pytest.approx(init_gbs)
    assert estimate.line("INIT").usd == pytest.approx(4.75 * GBS_X86)
    # SQS: 8,192 B body + 512 B attributes fits one 64 KB chunk: send + receive + delete.
    assert estimate.line("send + receive").quantity == 3 * 9_000
    assert estimate.line("send + receive").usd == pytest.approx(27_000 * SQS_FIFO)
    # DynamoDB: 1 (producer) + 4 (worker: one transaction of 2 items, billed twice) write units
    # per accepted event, no status reads.
    assert estimate.line("on-demand writes").quantity == 45_000
    assert estimate.line("on-demand writes").usd == pytest.approx(45_000 * WRU)
    assert estimate.line("on-demand reads").usd == 0
    # Small bodies: no claim check.
    assert estimate.line("claim-check PUT").usd == 0
    assert estimate.line("claim-check GET").usd == 0
    # Logs: 1,000 B per invocation.
    assert estimate.line("log ingestion").usd == pytest.approx(19_450 * 1000 / GIB * LOGS_GB)

    by_hand = 0.035 + 0.00389 + 941.5875 * GBS_X86 + 4.75 * GBS_X86 + 0.0135 + 0.028125 + 19_450 * 1000 / GIB * 0.5
    assert estimate.total_usd == pytest.approx(by_hand)
    assert estimate.total_usd == pytest.approx(0.105344, abs=1e-6)  # 0.110969 with 5 worker WRU
    assert estimate.requests == 10_000 and estimate.region == "us-east-1"


def test_measured_and_assumed_durations_are_reported(prices):
    without_hops = {k: v for k, v in REPORT.items() if k != "per_hop"}
    estimate = estimate_cost(without_hops, prices, config=CONFIG)
    assert any(n.startswith("durations assumed") for n in estimate.assumptions)
    assert not any(n.startswith("durations measured") for n in estimate.assumptions)
    # Assumed: authorizer 20 ms, producer 50 ms, worker 100 ms per message.
    gbs = 950 * 0.020 * 0.25 + 9_500 * 0.050 * 0.5 + 9_000 * 0.100 * 1.0
    assert estimate.line("duration").quantity == pytest.approx(gbs)

    measured = estimate_cost(REPORT, prices, config=CONFIG)
    assert any(n.startswith("durations measured") and "producer 45.2 ms (mean)" in n for n in measured.assumptions)


def test_harness_per_hop_shape(prices):
    # The load harness nests Lambda REPORT ("runtime") and handler-logged stats per hop and
    # marks hops it could not read.
    report = {
        "requests": 100,
        "accepted": 100,
        "duration_s": 10.0,
        "target": "embedded",
        "per_hop": {
            "available": True,
            "authorizer": {"available": False, "reason": "no log file"},
            "producer": {
                "available": True,
                "handler": {"count": 100, "p50_ms": 9.0, "mean_ms": 10.0},
                "runtime": {"count": 100, "p50_ms": 11.0, "mean_ms": 12.6},
            },
            "worker": {"available": True, "runtime": {"count": 100, "p50_ms": 30.0, "p90_ms": 60.0}},
        },
    }
    estimate = estimate_cost(report, prices, config=CONFIG)
    # Authorizer assumed (20 ms); producer runtime mean 12.6 -> 13 ms; worker p50 30 ms.
    gbs = 10 * 0.020 * 0.25 + 100 * 0.013 * 0.5 + 100 * 0.030 * 1.0
    assert estimate.line("duration").quantity == pytest.approx(gbs)
    notes = " | ".join(estimate.assumptions)
    assert "measured on embedded" in notes and "worker 30 ms (p50, no mean in the report)" in notes
    assert "durations assumed (warm, on AWS): authorizer 20 ms" in notes

    unavailable = {**report, "per_hop": {"available": False, "reason": "not collected"}}
    assert estimate_cost(unavailable, prices, config=CONFIG).line("duration").quantity == pytest.approx(
        10 * 0.020 * 0.25 + 100 * 0.050 * 0.5 + 100 * 0.100 * 1.0
    )


def test_claim_checked_bodies_cost_s3_and_a_small_message(prices):
    report = {
        "requests": 100,
        "accepted": 100,
        "status_counts": {"202": 100},
        "duration_s": 10.0,
        "mean_body_bytes": 300_000,
    }
    estimate = estimate_cost(report, prices, config=CONFIG)
    assert estimate.line("claim-check PUT").usd == pytest.approx(100 * S3_PUT)
    assert estimate.line("claim-check GET").usd == pytest.approx(100 * S3_GET)
    # The message is the claim check (~300 B + attributes): one chunk each way.
    assert estimate.line("send + receive").quantity == 300
    # Authorizer: 10 % of 100 misses -> 10; assumed durations.
    gbs = 10 * 0.020 * 0.25 + 100 * 0.050 * 0.5 + 100 * 0.100 * 1.0
    assert estimate.line("duration").quantity == pytest.approx(gbs)


def test_explicit_claim_checked_count_wins(prices):
    report = {"requests": 100, "accepted": 100, "duration_s": 10.0, "claim_checked": 7}
    estimate = estimate_cost(report, prices, config=CONFIG)
    assert estimate.line("claim-check PUT").quantity == 7
    assert estimate.line("claim-check GET").quantity == 7


def test_provider_retries_are_sent_again_but_processed_once(prices):
    # 130 requests: 120 answered 202 (20 of them retries of earlier deliveries), 10 refused.
    report = {
        "requests": 130,
        "accepted": 100,
        "acks": 120,
        "duration_s": 10.0,
        "status_counts": {"202": 120, "401": 10},
    }
    estimate = estimate_cost(report, prices, config=CONFIG)
    # SendMessage per 202; receive + delete per distinct event (the queue drops the duplicates).
    assert estimate.line("send + receive").quantity == 120 + 100 + 100
    # RECEIVED written per 202, the worker's transaction (4 WRU) per distinct event.
    assert estimate.line("on-demand writes").quantity == 120 * 1 + 100 * 4
    assert "producer 130," in estimate.line("invocations").item
    with pytest.raises(HookstackError, match="acks"):
        estimate_cost({**report, "acks": 90}, prices)


def test_messages_over_64_kb_bill_several_chunks(prices):
    # 70 KB body + 512 B attributes = 72,192 B: 2 chunks to send and 2 to receive, delete 1.
    report = {"requests": 10, "accepted": 10, "duration_s": 1.0, "mean_body_bytes": 70 * 1024}
    estimate = estimate_cost(report, prices, config=CONFIG)
    assert estimate.line("send + receive").quantity == 10 * (2 + 2 + 1)


def test_authorizer_cache(prices):
    report = {"requests": 500, "accepted": 500, "duration_s": 600.0}
    no_cache = CONFIG.model_copy(update={"authorizer_cache_ttl_s": 0})
    assert "authorizer 500," in estimate_cost(report, prices, config=no_cache).line("invocations").item
    # 50 tenants over 600 s with a 300 s TTL need at least 50 x 2 = 100 calls, more than the
    # 10 % miss assumption (50).
    many = CONFIG.model_copy(update={"tenants": 50})
    assert "authorizer 100," in estimate_cost(report, prices, config=many).line("invocations").item
    one = estimate_cost(report, prices, config=CONFIG)
    assert "authorizer 50," in one.line("invocations").item


def test_status_reads_and_arm64(prices):
    report = {"requests": 1_200, "accepted": 1_000, "duration_s": 100.0, "status_requests": 200, "per_hop": None}
    arm = CONFIG.model_copy(update={"architecture": "arm64"})
    estimate = estimate_cost(report, prices, config=arm)
    assert estimate.line("on-demand reads").usd == pytest.approx(200 * RRU)
    assert "status 200" in estimate.line("invocations").item
    assert "producer 1,000" in estimate.line("invocations").item
    gbs = estimate.line("duration").quantity
    assert estimate.line("duration").usd == pytest.approx(gbs * GBS_ARM)


def test_memory_per_function_comes_from_the_dict(prices):
    bigger = CONFIG.model_copy(update={"memory_mb": {**CONFIG.memory_mb, "worker": 2048}})
    base = estimate_cost(REPORT, prices, config=CONFIG).line("duration").quantity
    more = estimate_cost(REPORT, prices, config=bigger).line("duration").quantity
    assert more - base == pytest.approx(9_000 * 0.080 * 1.0)  # worker GB-s doubles


def test_defaults_are_the_documented_ones():
    config = CostConfig()
    assert config.memory_mb == {"authorizer": 256, "producer": 512, "worker": 1024, "status": 256}
    assert CostConfig(memory_mb={"worker": 2048}).memory_mb["producer"] == 512
    with pytest.raises(ValueError, match="unknown functions"):
        CostConfig(memory_mb={"dispatcher": 512})
    with pytest.raises(ValueError, match="128"):
        CostConfig(memory_mb={"worker": 64})


def test_memory_from_the_stack_definition():
    from stack.config import HookstackConfig

    config = CostConfig.from_hookstack(HookstackConfig(authorizer_ttl_seconds=60), memory_mb={"worker": 1536})
    assert config.memory_mb == {"authorizer": 256, "producer": 512, "worker": 1536, "status": 256}
    assert config.authorizer_cache_ttl_s == 60


def test_plan_is_priced_before_running(prices):
    # 10 rps for 60 s: 600 requests, all assumed accepted.
    estimate = estimate_for_plan(10, 60, prices=prices, config=CONFIG)
    by_hand = (
        600 * APIGW
        + (60 + 600 + 600) * LAMBDA_REQ
        + (60 * 0.020 * 0.25 + 600 * 0.050 * 0.5 + 600 * 0.100 * 1.0) * GBS_X86
        + (1 * 0.25 + 1 * 0.5 + 1 * 1.0) * GBS_X86
        + 3 * 600 * SQS_FIFO
        + 5 * 600 * WRU  # 1 (producer) + 4 (worker transaction)
        + 1260 * 1000 / GIB * LOGS_GB
    )
    assert estimate.total_usd == pytest.approx(by_hand)
    assert estimate.total_usd == pytest.approx(0.006998, abs=1e-6)  # 0.007373 with 5 worker WRU
    with pytest.raises(HookstackError, match="> 0"):
        estimate_for_plan(0, 60, prices=prices)


def test_bad_reports_get_clear_errors(prices):
    with pytest.raises(HookstackError, match="accepted"):
        estimate_cost({"requests": 1, "accepted": 2, "duration_s": 1}, prices)
    with pytest.raises(HookstackError, match="duration_s"):
        estimate_cost({"requests": 1, "accepted": 1}, prices)
    with pytest.raises(HookstackError, match="JSON object"):
        estimate_cost([1, 2], prices)  # type: ignore[arg-type]


def test_prices_file_names_date_and_source_for_every_price(prices, tmp_path):
    raw = json.loads((Path(__file__).resolve().parents[3] / "stack/data/aws_prices.json").read_text())
    assert raw["region"] == "us-east-1"
    assert "ignored" in raw["free_tier"]
    assert isinstance(prices.taken_on, date)
    for name, price in raw["prices"].items():
        assert price["source"].startswith("https://aws.amazon.com/"), name
        assert price["usd"] > 0 and price["per"] > 0, name
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps({**raw, "prices": {}}))
    with pytest.raises(HookstackError, match="not valid"):
        load_prices(bad)


# --- the guard ----------------------------------------------------------------------------


def test_guard_refuses_costly_aws_runs_without_confirmation(prices):
    with pytest.raises(HookstackError) as caught:
        require_cost_confirmation("aws", 100, 600, confirmed=False, prices=prices, config=CONFIG)
    message = str(caught.value)
    assert "\n" not in message
    assert CONFIRM_FLAG in message and CONFIRM_FLAG == "--i-understand-cost"
    expected = estimate_for_plan(100, 600, prices=prices, config=CONFIG).total_usd
    assert format_usd(expected) in message and "$" in message


@pytest.mark.parametrize(
    "target, rate, confirmed, threshold",
    [
        ("aws", 100, True, 50),  # acknowledged
        ("aws", 50, False, 50),  # at the threshold, not above it
        ("aws", 80, False, 100),  # custom threshold
        ("localstack", 5000, False, 50),
        ("embedded", 5000, False, 50),
    ],
)
def test_guard_lets_other_runs_through(target, rate, confirmed, threshold, prices):
    assert require_cost_confirmation(target, rate, 60, confirmed, threshold, prices=prices) is None


# --- the command --------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("cost")(cost)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps `cost` a named subcommand
        pass

    return app


def test_cost_command_prints_a_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no hookstack.toml: stack defaults
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    result = CliRunner().invoke(_app(), ["cost", str(report)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Total" in result.output and "API Gateway" in result.output
    assert "free tier ignored" in result.output

    result = CliRunner().invoke(_app(), ["cost", "--rate", "10", "--duration", "60", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["requests"] == 600 and data["total_usd"] > 0


def test_cost_command_needs_a_report_or_a_plan(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(_app(), ["cost"])
    assert isinstance(result.exception, HookstackError)
    result = CliRunner().invoke(_app(), ["cost", "--rate", "10"])
    assert isinstance(result.exception, HookstackError)
    result = CliRunner().invoke(_app(), ["cost", str(tmp_path / "missing.json")])
    assert isinstance(result.exception, HookstackError)
    assert "cannot read load report" in str(result.exception)


def test_worker_writes_one_transaction_per_event_before_and_after(prices):
    """Hand figures at $0.625 per million WRU: before, five single writes of 1 WRU; after, one
    TransactWriteItems of the projection and the status item, 2 WRU each."""
    assert CostConfig().worker_writes_per_event == 4
    comparison = worker_write_comparison(prices)
    assert (comparison.write_units_before, comparison.write_units_after) == (5, 4)
    assert comparison.usd_per_million_before == pytest.approx(3.125)
    assert comparison.usd_per_million_after == pytest.approx(2.50)
    # Per event with the producer's RECEIVED (1 WRU): 6 WRU = $3.75 before, 5 WRU = $3.125 after, per million.
    estimate = estimate_for_plan(10, 100, prices=prices)  # 1,000 events
    assert estimate.line("on-demand writes").quantity == 1_000 * (1 + 4)
    assert estimate.line("on-demand writes").usd == pytest.approx(1_000 * 5 * WRU)
    assert any("4 WRU (one TransactWriteItems" in note and "vs 5 WRU before" in note for note in estimate.assumptions)
    assert any("$2.500 vs $3.125 per million events" in note for note in estimate.assumptions)
