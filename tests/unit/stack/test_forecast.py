"""The AWS capacity forecast, checked against figures worked out by hand.

Expected values are written as the arithmetic a person would do (rate x seconds / messages), not
computed with the module's helpers, so a wrong formula in ``stack.ops.forecast`` cannot agree
with itself.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from stack.cli import app, edge
from stack.config import HookstackConfig
from stack.errors import HookstackError, UsageError
from stack.ops.forecast import DeployedLimits, HotKey, Traffic, forecast, load_quotas

QUOTAS = load_quotas()


def limits(**changes: object) -> DeployedLimits:
    values: dict[str, object] = {
        "region": "us-east-1",
        "fifo_high_throughput": True,
        "stage_rate_limit": 1000.0,
        "stage_burst_limit": 2000,
        "worker_batch_size": 10,
        "worker_max_concurrency": 2,
        "worker_timeout_s": 30,
        "max_receive_count": 3,
    }
    values.update(changes)
    return DeployedLimits.model_validate(values)


def traffic(rate: float, **changes: object) -> Traffic:
    values: dict[str, object] = {"offered_rps": rate, "duration_s": 60.0, "message_groups": 10}
    values.update(changes)
    return Traffic.model_validate(values)


def test_500_rps_is_throttled_by_sqs_without_high_throughput_and_not_with_it():
    # The producer sends one message per request: 500 sends/s against 300 calls/s per action.
    off = forecast(limits(fifo_high_throughput=False), traffic(500), QUOTAS).check("sqs.send")
    assert off.quota == 300 and off.demand == 500
    assert off.hit and off.hit_after_s == 0
    assert off.headroom == pytest.approx(300 / 500)
    assert "fifo_high_throughput = true" in off.lift and "503" in off.past_it
    on = forecast(limits(fifo_high_throughput=True), traffic(500), QUOTAS)
    assert on.check("sqs.send").quota == 70_000 and not on.check("sqs.send").hit
    # 10 groups, an even spread: the busiest partition sees 50 sends/s of its 300.
    assert on.check("sqs.send.group").demand == pytest.approx(50) and not on.check("sqs.send.group").hit


def test_each_forecast_says_what_the_other_fifo_mode_would_meet():
    # A stage with high throughput on is told that off it would be throttled, with the numbers; and back.
    on = forecast(limits(fifo_high_throughput=True), traffic(500), QUOTAS)
    assert "with fifo_high_throughput = false the queue takes 300 SendMessage calls/s in us-east-1: " in " ".join(
        on.assumptions
    )
    assert "500/s would be throttled (headroom 0.60x)" in " ".join(on.assumptions)
    off = forecast(limits(fifo_high_throughput=False), traffic(500), QUOTAS)
    assert "with fifo_high_throughput = true the queue takes 70000 SendMessage calls/s" in " ".join(off.assumptions)
    assert "500/s would not be throttled (headroom 140.00x)" in " ".join(off.assumptions)


def test_the_deployed_settings_come_from_the_rendered_definition():
    deployed = DeployedLimits.from_hookstack(
        HookstackConfig(
            fifo_high_throughput=False,
            throttle_rate_limit=250,
            throttle_burst_limit=500,
            worker_batch_size=5,
            worker_max_concurrency=40,
            worker_timeout_seconds=12,
            max_receive_count=4,
            region="eu-west-1",
        )
    )
    assert deployed == limits(
        region="eu-west-1",
        fifo_high_throughput=False,
        stage_rate_limit=250,
        stage_burst_limit=500,
        worker_batch_size=5,
        worker_max_concurrency=40,
        worker_timeout_s=12,
        max_receive_count=4,
    )


def test_a_stage_throttle_is_hit_once_its_burst_bucket_is_empty():
    result = forecast(limits(), traffic(3000), QUOTAS)
    stage = result.check("apigateway.stage")
    # 2,000 tokens drained at 3,000 - 1,000 = 2,000 req/s: one second.
    assert stage.hit and stage.hit_after_s == pytest.approx(1.0)
    # Past the stage only 1,000 req/s reach the producer, and SQS.
    assert result.producer_rps == 1000 and result.check("sqs.send").demand == 1000
    account = forecast(limits(stage_rate_limit=20_000, stage_burst_limit=5000), traffic(12_000), QUOTAS)
    # The account bucket: 5,000 tokens at 12,000 - 10,000 = 2,000 req/s: 2.5 s.
    assert account.check("apigateway.account").hit_after_s == pytest.approx(2.5)


def test_a_region_with_a_lower_api_gateway_default_uses_it():
    result = forecast(limits(region="eu-south-1"), traffic(900), QUOTAS)
    assert result.check("apigateway.account").quota == 2500


def test_high_throughput_in_a_region_without_a_documented_figure_is_unknown_not_guessed():
    check = forecast(limits(region="sa-east-1"), traffic(500), QUOTAS).check("sqs.send")
    assert check.quota is None and not check.hit and check.headroom is None
    assert "sa-east-1" in check.lift


def test_worker_concurrency_drain_and_backlog():
    # 400 events/s, batches of 10 taking 500 ms: 400 x 0.5 / 10 = 20 concurrent batches needed.
    result = forecast(limits(worker_max_concurrency=8), traffic(400, message_groups=50, worker_batch_ms=500), QUOTAS)
    worker = result.worker
    assert worker.needed_concurrency == pytest.approx(20)
    assert (worker.concurrency_cap, worker.capped_by) == (8, "MaximumConcurrency")
    # 8 batches of 10 every 0.5 s: 160 events/s; (400 - 160) x 60 s = 14,400 left; 90 s to drain.
    assert worker.drain_events_per_s == pytest.approx(160)
    assert worker.backlog_at_end == pytest.approx(14_400)
    assert worker.drain_after_s == pytest.approx(90)
    check = result.check("worker.concurrency")
    assert check.hit and "worker_max_concurrency" in check.lift


def test_fifo_worker_concurrency_is_capped_by_the_message_groups():
    result = forecast(limits(worker_max_concurrency=100), traffic(400, message_groups=4, worker_batch_ms=500), QUOTAS)
    assert (result.worker.concurrency_cap, result.worker.capped_by) == (4, "message groups")
    # One batch of 10 per group in flight, 0.5 s each: 20 events/s per group; 100 arrive per group.
    group = result.check("worker.group")
    assert group.quota == pytest.approx(20) and group.demand == pytest.approx(100) and group.hit


def test_enough_worker_concurrency_leaves_no_backlog():
    result = forecast(limits(worker_max_concurrency=50), traffic(100, message_groups=50), QUOTAS)
    # Default: 100 ms per message, full batches of 10: 1 s a batch; 100 x 1 / 10 = 10 needed.
    assert result.worker.needed_concurrency == pytest.approx(10)
    assert result.worker.backlog_at_end == 0 and result.worker.drain_after_s is None
    assert not result.check("worker.concurrency").hit


def test_a_hot_key_past_a_partitions_write_units():
    # The projection item is one of the transaction's two items: 2 WCU per event.
    hot = [HotKey(key="demo#product#1", events_per_s=600), HotKey(key="demo#product#2", events_per_s=100)]
    result = forecast(limits(), traffic(800, hot_keys=hot), QUOTAS)
    first, second = result.check("dynamodb.hot_key.1"), result.check("dynamodb.hot_key.2")
    assert (first.demand, first.quota, first.hit) == (1200, 1000, True)
    assert (second.demand, second.hit) == (200, False)
    assert "dead-lettered after 3" in first.past_it


def test_lambda_concurrency_and_scaling_from_the_ack_p99():
    # 5,000 req/s held 0.3 s each: 1,500 producer environments, more than 1,000 per 10 s.
    result = forecast(
        limits(stage_rate_limit=6000, worker_max_concurrency=2),
        traffic(5000, ack_p99_ms=300, message_groups=2),
        QUOTAS,
    )
    scaling = result.check("lambda.scaling")
    assert scaling.demand == pytest.approx(1500) and scaling.hit and "10 s" in scaling.past_it
    # Account: 1,500 API path + the worker's 2 capped batches.
    assert result.check("lambda.concurrency").demand == pytest.approx(1502)


def test_the_producers_measured_duration_wins_over_the_ack_p99():
    # An overloaded emulator answers in 16 s, but the producer ran 0.1 s: 500 req/s x 0.1 s = 50
    # environments (+ the worker's 2), not 8,000.
    result = forecast(limits(), traffic(500, ack_p99_ms=16_000, producer_p99_ms=100), QUOTAS)
    assert result.check("lambda.concurrency").demand == pytest.approx(52)
    assert not result.check("lambda.concurrency").hit
    assert any("producer's measured p99 (100 ms" in note for note in result.assumptions)


def test_the_providers_timeout_against_the_ack_p99():
    check = forecast(limits(), traffic(10, ack_p99_ms=6000, provider="shopify"), QUOTAS).check("provider.timeout")
    assert (check.quota, check.demand, check.hit) == (5, 6, True)
    github = forecast(limits(), traffic(10, ack_p99_ms=6000, provider="github"), QUOTAS).check("provider.timeout")
    assert (github.quota, github.hit) == (10, False)


def test_every_quota_figure_has_a_source_page():
    for quota in QUOTAS.quotas.model_dump().values():
        assert quota["source"].startswith("https://")
    assert QUOTAS.regional.sqs_fifo_high_throughput_calls_per_action.by_region["us-east-1"] == 70_000


def test_a_bad_quotas_file_is_one_error(tmp_path):
    path = tmp_path / "quotas.json"
    path.write_text('{"taken_on": "2026-12-01"}')
    with pytest.raises(HookstackError, match="quotas file .* is not valid"):
        load_quotas(path)


def test_the_command_prints_an_80_column_table_and_refuses_bad_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hookstack.toml").write_text("[hookstack]\nfifo_high_throughput = false\n")
    monkeypatch.setenv("HOOKSTACK_HOME", str(tmp_path / ".hookstack"))
    runner = CliRunner()
    result = runner.invoke(app, ["forecast", "--rate", "500", "--duration", "1m"])
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.output.splitlines())
    assert "SQS send (no high thr.)" in result.output and "fifo_high_throughput = true" in result.output
    bad = runner.invoke(app, ["forecast", "--rate", "10", "--duration", "soon"])
    assert isinstance(bad.exception, UsageError) and "not a duration" in str(bad.exception)
    assert edge.exit_code(bad.exception) == 2
    negative = runner.invoke(app, ["forecast", "--rate", "0", "--duration", "1m"])
    assert isinstance(negative.exception, UsageError) and "rate must be a positive" in str(negative.exception)
