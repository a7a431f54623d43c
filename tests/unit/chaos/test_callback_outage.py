"""The callback-outage drill without a stage: its retry schedule bounds, and what `chaos run`
refuses for it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chaos.callback_outage import NAME, SABOTAGE, CallbackTimings
from chaos.cli import app
from chaos.context import DrillSettings
from chaos.stage import CALLBACK_DRILL_BACKOFF_S, CALLBACK_DRILL_MAX_ATTEMPTS, callback_drill_config
from stack.config import HookstackConfig
from stack.errors import UsageError


def test_on_the_drill_stage_a_failing_callback_reaches_the_dlq_within_the_budget():
    config = callback_drill_config()
    assert config.patterns == ["jobs", "notifications"]
    assert config.secret_cache_seconds == 0  # each run's subscription is seen at once
    timings = CallbackTimings(config.callback_backoff_seconds, config.callback_max_attempts, secret_cache_s=0)
    assert timings.backoffs_s == [1, 6, 24]  # the sender's own schedule with a 1 s base
    assert timings.exhaust_s == 31 and timings.longest_hide_s == 24
    assert timings.estimate_s(DrillSettings().events) < DrillSettings().max_seconds


def test_on_a_default_stage_the_retries_outlast_any_drill_budget():
    default = HookstackConfig()
    timings = CallbackTimings(default.callback_backoff_seconds, default.callback_max_attempts, secret_cache_s=0)
    assert timings.estimate_s(DrillSettings().events) > DrillSettings().max_seconds


def test_list_shows_the_drill_with_its_estimate():
    result = CliRunner().invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if NAME in line)
    estimate = CallbackTimings(CALLBACK_DRILL_BACKOFF_S, CALLBACK_DRILL_MAX_ATTEMPTS, 0).estimate_s(24)
    assert "(notifications)" in row and f"{estimate:.0f}s" in row, row


@pytest.mark.parametrize("sabotage", ["skip-write", "delete-first", "unkeyed-booking"])
def test_a_sabotage_of_another_drill_is_a_usage_error(sabotage):
    result = CliRunner().invoke(app, ["run", NAME, "--sabotage", sabotage])
    assert isinstance(result.exception, UsageError), result.output
    assert result.exception.exit_code == 2 and SABOTAGE in str(result.exception)


def test_its_sabotage_is_refused_for_a_drill_it_does_not_apply_to():
    result = CliRunner().invoke(app, ["run", "consumer-crash", "--sabotage", SABOTAGE])
    assert isinstance(result.exception, UsageError), result.output


def test_a_failed_run_reads_in_the_summary_table_and_the_report(tmp_path):
    from rich.console import Console

    from chaos.callback_outage import counts
    from chaos.callback_reconcile import CallbackReconciliation
    from chaos.cli import drill_summary_table
    from chaos.report import render_html
    from chaos.runner import DrillResult
    from stack.jobs_consumer.fleet import ConsumerFleet

    reconciliation = CallbackReconciliation(submitted=8, accepted=8, completed=8, delivered=4, missing=4)
    reconciliation.dead_lettered = reconciliation.replayed = 4
    reconciliation.problem("k1 (job_1): SUCCEEDED, its callback missing: 3 attempt(s), none delivered")
    result = DrillResult(
        drill=NAME,
        summary="s",
        verdict="FAIL",
        run_id="r1",
        target="embedded",
        stage="chaosnotify",
        settings={},
        timings={},
        started_at=0.0,
        duration_s=61.0,
        counts=counts(reconciliation, ConsumerFleet("chaosnotify", "embedded", tmp_path)),
        checks=[],
        before_fix=None,
        after_replay=None,
        replay_errors=[],
        error=None,
        timeline={"samples": [], "marks": []},
        jobs=reconciliation.as_dict(),
        reconciliation_title="Callbacks reconciliation",
    )
    console = Console(width=80, record=True)
    console.print(drill_summary_table([result]))
    row = next(line for line in console.export_text().splitlines() if line.startswith(NAME))
    assert row.split()[1:] == ["FAIL", "61.0", "8", "8", "4", "4", "4", "0", "-", "4"], row
    page = render_html(result)
    assert "Callbacks reconciliation" in page and "its callback missing" in page
    assert "callbacks delivered by a retry" in page
