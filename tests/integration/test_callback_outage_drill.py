"""The callback-outage drill on the embedded target, on one drill-sized stage with the jobs and
notifications patterns (each run brings its own partner simulator): it PASSES with the real
callback DLQ replay, and FAILS — on missing callbacks — when the replay deletes the dead letters
without sending them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaos.callback_outage import SABOTAGE, run_callback_outage
from chaos.context import DrillSettings
from chaos.stage import CALLBACK_DRILL_MAX_ATTEMPTS, callback_drill_config, fresh_embedded_stack
from stack.deploy.outputs import StackOutputs

pytestmark = pytest.mark.integration

JOBS = 6
MAX_SECONDS = 200.0  # the drill's own bound on its waits


@pytest.fixture(scope="module")
def stage() -> Iterator[StackOutputs]:
    with fresh_embedded_stack(callback_drill_config(stage="drillnotify")) as outputs:
        yield outputs


def _checks(result) -> dict[str, bool]:
    return {check["name"]: check["ok"] for check in result.checks}


def test_the_drill_passes_every_completion_called_back_once_after_retries_and_replay(stage):
    result = run_callback_outage(stage, DrillSettings(events=JOBS, max_seconds=MAX_SECONDS))
    assert result.verdict == "PASS", result.failures
    counts = result.counts
    assert counts["acked"] == counts["completed"] == counts["processed"] == JOBS, counts
    assert counts["missing"] == counts["duplicates_applied"] == counts["dlq_depth_end"] == 0, counts
    assert counts["dead_lettered"] >= 1 and counts["replayed"] >= counts["dead_lettered"], counts
    # A dead-lettered callback failed every one of its attempts first.
    assert counts["failed_attempts"] >= CALLBACK_DRILL_MAX_ATTEMPTS * counts["dead_lettered"], counts
    assert len(result.checks) == 2 and all(_checks(result).values()), result.checks
    assert [m["kind"] for m in result.timeline["marks"]].count("replay") >= 1


def test_the_drill_fails_when_the_replay_drops_the_dead_letters(stage):
    result = run_callback_outage(stage, DrillSettings(events=JOBS, max_seconds=MAX_SECONDS, sabotage=SABOTAGE))
    assert result.verdict == "FAIL"
    assert all(_checks(result).values()), result.checks  # the fault fired: it fails on the callbacks
    counts = result.counts
    assert counts["missing"] == counts["dead_lettered"] >= 1, counts
    assert counts["dlq_depth_end"] == 0, counts  # deleted, never sent
    assert any("its callback missing" in failure for failure in result.failures), result.failures
