"""The daily tools on a running embedded stack, through the command line: a function's log (the
worker's included) while the stack runs and after `down`, rotated by the next `up`; a gated load
against a baseline, with JUnit XML and GitHub Actions annotations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.helpers.load_results import write_report_dir
from tests.integration.test_daily_session import Session

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    session = Session(tmp_path_factory.mktemp("project"))
    try:
        yield session
    finally:
        session.run("down", ok=False)


def test_function_logs_while_up_after_down_and_rotated_by_the_next_up(session):
    session.run("up")
    sent = session.json("send")
    assert session.json("status", sent["id"], "--wait", "--timeout", "90")["status"] == "PROCESSED"
    for function in ("producer", "worker"):
        assert sent["id"] in session.run("logs", function, "--since", "10m").stdout, function
    unknown = session.run("logs", "nosuch", ok=False)
    assert unknown.returncode == 2 and "worker" in unknown.stderr and "producer" in unknown.stderr

    session.run("down")
    kept = session.run("logs", "worker")
    assert sent["id"] in kept.stdout  # the worker's log outlives the stack
    assert session.run("logs", "worker", "--follow").stdout == kept.stdout  # nothing runs: no wait

    session.run("up")
    assert sent["id"] not in session.run("logs", "worker").stdout  # a new session's log
    previous = session.project / ".hookstack" / "embedded" / "logs" / "dev.previous"
    assert any(sent["id"] in path.read_text() for path in previous.glob("*worker*.log"))


def test_a_gated_load_against_a_baseline_writes_junit_and_annotations(session):
    baseline = write_report_dir(session.project / "baseline-run")
    session.env["GITHUB_ACTIONS"] = "true"
    junit = session.project / "ci" / "junit.xml"
    run = session.project / "run"  # absolute: the Locust child process does not share the working directory
    result = session.run(
        "load", "--rate", "5", "--duration", "3s", "--warmup", "0", "--report-dir", str(run),
        "--baseline", str(baseline), "--gate", "p99<+900%", "--junit", str(junit),
        ok=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr  # passed or a failed gate, never a usage error
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"p99<+900%", "missing==0"}
    failed = [name for name, case in cases.items() if case.find("failure") is not None]
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == len(failed) == int(suite.get("failures") or -1)
    assert (result.returncode == 1) == bool(failed)
    summary = json.loads((run / "summary.json").read_text())
    assert [d["metric"] for d in summary["baseline"]["deltas"]][:4] == ["p50", "p95", "p99", "max"]
    relative = next(g for g in summary["gates"] if g["gate"] == "p99<+900%")
    assert relative["baseline"] == json.loads((baseline / "summary.json").read_text())["p99_ms"]
    assert relative["threshold"] == pytest.approx(10 * relative["baseline"])
