"""The jobs pattern under crashes, on the embedded target: the consumer-crash drill PASSES on the
real consumers and FAILS when they delete each message before running it.

One drill-sized jobs stack for the module (``chaos.stage.jobs_drill_config``: jobs pattern, jobs
visibility timeout 30 s, its own HOOKSTACK_HOME): on the default 300 s a killed job waits minutes.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from chaos.consumer_crash import run_consumer_crash
from chaos.context import DrillSettings
from chaos.report import write_reports
from chaos.stage import fresh_embedded_stack, jobs_drill_config

pytestmark = pytest.mark.integration

DRILL = DrillSettings(events=8, max_seconds=180)


@pytest.fixture(scope="module")
def jobs_stack():
    with fresh_embedded_stack(jobs_drill_config()) as outputs:
        home = os.environ["HOOKSTACK_HOME"]
        yield outputs
    leftovers = subprocess.run(["pgrep", "-f", home], capture_output=True, text=True).stdout.split()
    assert not leftovers, f"processes left behind: {leftovers}"


def _summary(result) -> str:
    c = result.counts
    return (
        f"{result.drill} ({result.settings['sabotage'] or 'real consumers'}): {result.verdict} in "
        f"{result.duration_s:.1f}s — submitted {c['sent']}, accepted {c['acked']}, SUCCEEDED {c['processed']}, "
        f"FAILED {c['failed']}, lost {c['lost']}, stuck {c['stuck']}, records {c['records_found']}/"
        f"{c['records_expected']} (+{c['records_unexpected']}), killed {c['consumers_killed']} consumers "
        f"({c['killed_runs']} runs, {c['rerun_after_kill']} finished elsewhere)"
    )


def test_consumer_crash_passes_with_the_real_consumers(jobs_stack, tmp_path):
    result = run_consumer_crash(jobs_stack, DRILL)
    json_path, html_path = write_reports(result, tmp_path)
    print(_summary(result))
    assert result.verdict == "PASS", (result.failures, result.consumer_logs)
    counts = result.counts
    assert counts["acked"] == DRILL.events and counts["processed"] == counts["acked"]
    assert counts["lost"] == counts["stuck"] == counts["failed"] == counts["records_unexpected"] == 0
    assert counts["records_found"] == counts["records_expected"] == 3 * DRILL.events
    assert counts["consumers_killed"] >= 1 and counts["rerun_after_kill"] >= 1
    assert "PASS" in html_path.read_text() and json_path.exists()


def test_consumer_crash_fails_when_consumers_delete_before_the_result(jobs_stack, tmp_path):
    result = run_consumer_crash(jobs_stack, DrillSettings(events=8, max_seconds=180, sabotage="delete-first"))
    write_reports(result, tmp_path)
    print(_summary(result))
    assert result.verdict == "FAIL"
    assert result.counts["lost"] >= 1
    assert any("lost" in failure for failure in result.failures)
