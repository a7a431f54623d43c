"""`hookstack chaos` commands that need no stage: listing, and refusing what cannot run."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chaos.cli import app
from chaos.context import DrillSettings
from chaos.drills import DRILLS
from chaos.stage import StageTimings
from stack.errors import HookstackError

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
