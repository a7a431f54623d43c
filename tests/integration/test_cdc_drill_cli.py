"""`hookstack chaos run partner-throttling` as a user runs it: a subprocess with a private
HOOKSTACK_HOME (and temporary directory) that brings up its own drill-sized cdc stage and partner
simulator, drills, writes its reports and tears everything down. The real trickle must PASS
(exit 0); the delete-first trickle must FAIL on "nothing lost" (exit 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ITEMS = 12
# Stage up (about a minute on a busy 2-core machine), the drill, stage down: a bound, not a figure.
RUN_TIMEOUT_S = 600


def run_drill(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict, Path]:
    home, scratch, reports = tmp_path / "home", tmp_path / "tmp", tmp_path / "reports"
    scratch.mkdir()
    env = {**os.environ, "HOOKSTACK_HOME": str(home), "TMPDIR": str(scratch), "COLUMNS": "120"}
    junit = tmp_path / "junit.xml"
    args = ["chaos", "run", "partner-throttling", "--events", str(ITEMS), "--report-dir", str(reports)]
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", *args, "--junit", str(junit), *extra],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert not leftovers, f"processes left behind: {leftovers}"
    [report] = reports.glob("partner-throttling-*.json")
    assert report.with_suffix(".html").exists()
    print(f"\n{' '.join(extra) or 'real trickle'}: {result.stdout}{result.stderr[-1500:]}")
    return result, json.loads(report.read_text()), junit


def test_the_drill_passes_and_writes_its_reports(tmp_path):
    result, report, junit = run_drill(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert report["verdict"] == "PASS", report["failures"]
    counts = report["counts"]
    assert counts["inserted"] == counts["delivered"] == ITEMS and counts["missing"] == 0
    assert counts["answered_429"] > 0 and counts["answered_503"] > 0
    assert [m["kind"] for m in report["timeline"]["marks"]][:1] == ["fault_on"]
    assert "partner-throttling" in result.stdout and "PASS" in result.stdout
    [case] = ElementTree.parse(junit).getroot().iter("testcase")
    assert case.get("name") == "partner-throttling" and case.find("failure") is None


def test_the_delete_first_trickle_fails_the_drill(tmp_path):
    result, report, junit = run_drill(tmp_path, "--sabotage", "delete-first")
    assert result.returncode == 1, result.stderr[-3000:]
    assert report["verdict"] == "FAIL" and report["settings"]["variant"] == "delete-first"
    assert report["counts"]["missing"] > 0
    assert any(f.startswith("check failed: nothing lost") for f in report["failures"]), report["failures"]
    [case] = ElementTree.parse(junit).getroot().iter("testcase")
    assert case.find("failure") is not None
