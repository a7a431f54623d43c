"""`hookstack load --scenario partner-jobs` on the embedded target: jobs submitted through Locust,
consumer machines started and stopped by the harness, every accepted job followed to its final
status, the reports with the jobs' figures. Its own jobs stage in a private home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.config import load_config
from tests.helpers.private_stage import private_stage

pytestmark = pytest.mark.integration

STAGE = "loadjobs"
RUN_TIMEOUT_S = 300  # the load (10 s), the follow-up (bounded by --drain-timeout) and the start-up


@pytest.fixture(scope="module")
def jobs_home(tmp_path_factory) -> Iterator[Path]:
    with private_stage(tmp_path_factory, load_config(stage=STAGE, patterns=["jobs"])) as (_, home):
        yield home


def _consumers_of(home: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-af", "stack.cli consumer"], capture_output=True, text=True).stdout
    # A consumer started by this run inherits the home in its environment; match on its stage.
    return [line for line in found.splitlines() if f"--stage {STAGE}" in line]


def test_partner_jobs_loses_nothing_and_reports_the_jobs(jobs_home, tmp_path):
    report_dir = tmp_path / "report"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "stack.cli",
            "load",
            "--scenario",
            "partner-jobs",
            "--stage",
            STAGE,
            "--rate",
            "3",
            "--duration",
            "10s",
            "--consumers",
            "2",
            "--warmup",
            "4",
            "--drain-timeout",
            "120s",
            "--gate",
            "unfinished==0",
            "--report-dir",
            str(report_dir),
        ],
        env={**os.environ, "HOOKSTACK_HOME": str(jobs_home)},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads((report_dir / "summary.json").read_text())
    jobs = summary["jobs"]
    assert summary["scenario"] == "partner-jobs"
    assert jobs["accepted"] > 0 and jobs["accepted"] == jobs["submitted"] == summary["accepted"]
    assert summary["succeeded"] == jobs["accepted"]
    assert summary["lost"] == summary["unfinished"] == summary["failed"] == 0
    assert jobs["consumers"] == 2 and summary["jobs_per_s"] > 0
    assert jobs["final"]["count"] == jobs["accepted"] and summary["final_p99_ms"] is not None
    assert set(jobs["ack_by_size_class"]) <= {"inline-small", "inline-large", "claim-check", "over-queue-limit"}
    assert sum(ack["count"] for ack in jobs["ack_by_size_class"].values() if ack) == jobs["accepted"]
    assert {g["gate"] for g in summary["gates"]} == {"unfinished==0", "lost==0"} and summary["passed"]
    page = (report_dir / "report.html").read_text()
    assert "Submit → final status" in page and "202 latency by attachment size class" in page
    assert sorted(p.name for p in (report_dir / "consumers").glob("*.log")) == ["consumer-1.log", "consumer-2.log"]
    assert not _consumers_of(jobs_home), "the run left consumer processes running"
