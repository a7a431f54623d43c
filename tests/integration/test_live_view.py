"""A running embedded stack seen live and measured: `hookstack top --once` shows the stage's queues,
its functions' environments and its recent answers; a load with a relative --report-dir writes
its reports there, with the per provider/topic breakdown and the cold starts of its window; a
load stopped with Ctrl-C writes the partial report, marked interrupted, and exits 130."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.test_daily_session import STEP_TIMEOUT_S, Session

pytestmark = pytest.mark.integration

LOAD_START_WAIT_S = 120


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    session = Session(tmp_path_factory.mktemp("project"))
    try:
        session.run("up")
        yield session
    finally:
        session.run("down", ok=False)


def test_top_once_shows_queues_functions_and_recent_acks(session):
    sent = session.json("send")
    assert session.json("status", sent["id"], "--wait", "--timeout", "90")["status"] == "PROCESSED"
    frame = session.run("top", "--once").stdout
    lines = frame.splitlines()
    assert max(len(line) for line in lines) <= 80, frame
    queues = {line.split()[0] for line in lines if line.split()[:1] in (["Queue"], ["Dlq"])}
    assert queues == {"Queue", "Dlq"}, frame
    producer = next(line.split() for line in lines if line.split()[:1] == ["producer"])
    assert int(producer[1]) >= 1 and int(producer[6]) >= 1, frame  # an environment, and its cold start
    assert any(line.startswith("acks (2xx), last 10 s: ") and not line.endswith(": 0") for line in lines), frame
    assert "WorkerQueueMapping → worker" in frame


def test_a_load_with_a_relative_report_dir_breaks_its_figures_down(session):
    result = session.run("load", "--rate", "5", "--duration", "3s", "--warmup", "0", "--report-dir", "runs/first")
    summary = json.loads((session.project / "runs" / "first" / "summary.json").read_text())
    assert summary["interrupted"] is False
    keys = summary["by_key"]
    assert keys and all(key.startswith("shopify ") for key in keys)
    assert sum(figures["ack"]["count"] for figures in keys.values()) == summary["acks"]
    assert sum((figures["e2e"] or {}).get("count", 0) for figures in keys.values()) == summary["processed"]
    assert summary["non_2xx"]["count"] == sum(
        n for status, n in summary["status_counts"].items() if not status.startswith("2")
    )
    assert summary["cold_starts"]["available"] is True
    if summary["cold_starts"]["total"]:
        assert "cold start(s) fell inside the measured window" in result.stderr
    page = (session.project / "runs" / "first" / "report.html").read_text()
    assert "<h2>Per provider and topic</h2>" in page and "End-to-end latency distribution" in page


def test_ctrl_c_during_a_load_writes_the_partial_report_and_exits_130(session):
    run = session.project / "runs" / "stopped"
    process = subprocess.Popen(
        [sys.executable, "-m", "stack.cli", "load", "--rate", "5", "--duration", "5m", "--warmup", "0",
         "--report-dir", str(run)],
        cwd=session.project, env=session.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's foreground job
    )  # fmt: skip
    try:
        progress = run / "progress.jsonl"
        deadline = time.monotonic() + LOAD_START_WAIT_S
        while time.monotonic() < deadline and not (
            progress.exists() and any(json.loads(line)["acks"] > 0 for line in progress.read_text().splitlines())
        ):
            time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=STEP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["interrupted_during"] == "load"
    assert summary["planned_duration_s"] == 300 and summary["measured_s"] < 300
    assert summary["acks"] > 0
    assert "partial reports written" in stderr and "hookstack load" in stdout
    assert "<b>Interrupted</b>" in (run / "report.html").read_text()
