"""`hookstack chaos` commands that need no stage: listing, and refusing what cannot run."""

from __future__ import annotations

import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from chaos.cli import app
from chaos.context import DrillSettings
from chaos.drills import DRILLS
from chaos.stage import StageTimings
from stack.errors import HookstackError, UsageError

REQUIRED = (
    "schema-drift",
    "downstream-outage",
    "slow-downstream",
    "poison-message",
    "worker-crash",
    "retry-storm",
    "replay",
)


def test_list_shows_every_drill():
    result = CliRunner().invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in DRILLS:
        assert name in result.stdout
    assert set(REQUIRED) <= set(DRILLS)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no-such-drill"], "unknown drill"),
        (["run", "replay", "--target", "aws", "--fresh"], "not supported on the aws target"),
        (["run", "replay", "--sabotage", "delete-everything"], "unknown sabotage"),
    ],
)
def test_run_refuses_what_cannot_run(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert isinstance(result.exception, HookstackError) and message in str(result.exception)


def test_drills_on_a_default_stage_take_longer_than_the_default_budget():
    # 30 s worker timeout, 180 s visibility: a drill that waits for redeliveries needs minutes.
    default_stage = StageTimings(worker_timeout_s=30, visibility_timeout_s=180, max_receive_count=3, faults_cache_s=2)
    drill_stage = StageTimings(worker_timeout_s=3, visibility_timeout_s=18, max_receive_count=3, faults_cache_s=2)
    budget = DrillSettings().max_seconds
    assert DRILLS["replay"].estimate(default_stage) > budget
    assert DRILLS["downstream-outage"].estimate(default_stage) > DRILLS["downstream-outage"].estimate(drill_stage)
    assert all(drill.estimate(drill_stage) < budget for drill in DRILLS.values())


@pytest.mark.parametrize("values", [{"events": 3}, {"events": 501}, {"groups": 0}, {"groups": 9}])
def test_drills_are_bounded_in_event_count(values):
    with pytest.raises(HookstackError):
        DrillSettings(**values)


def test_list_shows_the_cdc_drill_with_an_estimate():
    from chaos.partner_throttling import NAME

    result = CliRunner().invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if NAME in line)
    assert "(cdc)" in row and re.search(r"\d+s\s*$", row.rstrip(" │|")), row


@pytest.mark.parametrize(
    "drill, sabotage",
    [
        ("partner-throttling", "skip-write"),
        ("partner-throttling", "unkeyed-booking"),
        ("replay", "delete-first"),
        ("consumer-crash", "broken-replay"),
        ("accounting-outage", "delete-first"),
        ("all", "unkeyed-booking"),
    ],
)
def test_a_sabotage_that_does_not_apply_to_the_drill_is_a_usage_error(drill, sabotage):
    result = CliRunner().invoke(app, ["run", drill, "--sabotage", sabotage])
    assert isinstance(result.exception, UsageError), result.output
    assert result.exception.exit_code == 2 and "does not apply" in str(result.exception)


def test_the_summary_table_shows_the_cdc_drills_inserted_and_delivered_counts():
    from chaos.cli import drill_summary_table
    from chaos.partner_throttling import drill_result

    result = drill_result(
        None,
        run_id="r",
        target="embedded",
        stage="s",
        settings={},
        timings={},
        started_at=0.0,
        duration_s=1.0,
        marks=[],
    )
    result.counts = {"inserted": 24, "delivered": 23, "missing": 1, "order_violations": 0}
    console = Console(width=120, record=True)
    console.print(drill_summary_table([result]))
    row = console.export_text().splitlines()[1].split()
    assert row[:3] == ["partner-throttling", "FAIL", "1.0"]
    assert row[3:] == ["24", "-", "23", "-", "-", "-", "0", "1"]


def test_the_cdc_drill_on_a_deployed_stage_without_the_cdc_pattern_is_refused_in_one_line(monkeypatch, tmp_path):
    from chaos import cli
    from stack.deploy.outputs import StackOutputs

    webhooks_only = StackOutputs(
        target="embedded",
        stage="dev",
        region="us-east-1",
        stack_name="hookstack-dev",
        api_id="a1",
        api_url="http://127.0.0.1:1/dev",
        gateway="hookstack",
        artifacts_bucket="bucket",
        function_names={},
    )
    monkeypatch.setattr(cli, "_outputs", lambda target, stage: webhooks_only)
    result = CliRunner().invoke(app, ["run", "partner-throttling", "--deployed", "--report-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""  # no empty summary table
    [refusal] = [line for line in result.stderr.splitlines() if "not run" in line]
    assert "stage 'dev' on embedded has no cdc pattern deployed" in refusal
    assert refusal.endswith("`hookstack up --pattern cdc`")  # the whole error on its line
    assert not list(tmp_path.iterdir())  # nothing ran: no report
