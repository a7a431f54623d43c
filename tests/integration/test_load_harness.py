"""`hookstack load` end to end: Locust child process, reports, gates, distributed mode, the
coordinated-omission correction on a live stall, and a run against the embedded stack."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 300


@pytest.fixture()
def noop_target(request):
    """A loopback server answering 202 {"id", "status_url"}; ``request.param``: extra arguments."""
    extra = getattr(request, "param", [])
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtests.noop_target", "--port", "0", "--max-seconds", "300", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().strip()
    assert line.startswith("listening on "), line
    yield line.removeprefix("listening on ") + "/dev"
    process.terminate()
    process.wait(timeout=10)


def run_load(report_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    completed = subprocess.run(
        [sys.executable, "-m", "loadtests.cli", "--report-dir", str(report_dir), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    summary_file = report_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return completed, summary


def url_args(url: str) -> list[str]:
    return ["--url", url, "--token", "load-token", "--secret", "shopify=load-secret", "--warmup", "0"]


def test_open_model_run_writes_reports_and_gates_decide_the_exit_code(noop_target, tmp_path):
    done, summary = run_load(
        tmp_path / "ok",
        *url_args(noop_target),
        "--scenario",
        "flash-sale",
        "--rate",
        "20",
        "--duration",
        "4s",
        "--seed",
        "7",
        "--gate",
        "p99<5s",
        "--gate",
        "errors<0.1%",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    offered = math.ceil(summary["offered_requests"] - 1e-6)
    assert summary["requests"] == offered and summary["status_counts"] == {"202": offered}
    assert summary["accepted"] == offered and summary["unsent"] == 0 and summary["abandoned"] == 0
    assert summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    assert summary["e2e"]["available"] is False and summary["missing"] is None
    assert [g["passed"] for g in summary["gates"]] == [True, True]
    html = (tmp_path / "ok" / "report.html").read_text()
    assert html.count("<svg") == 3 and "<script" not in html

    failed, summary = run_load(
        tmp_path / "impossible", *url_args(noop_target), "--rate", "20", "--duration", "2s", "--gate", "p99<0.001ms"
    )
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("gate FAILED: p99<0.001ms (measured p99 = ") and last.endswith(" ms)")
    assert summary["passed"] is False


def test_master_and_worker_processes_share_one_schedule(noop_target, tmp_path):
    done, summary = run_load(
        tmp_path, *url_args(noop_target), "--scenario", "steady", "--rate", "60", "--duration", "4s", "--processes", "2"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert summary["processes"] == 2
    assert summary["requests"] == 240 and summary["status_counts"] == {"202": 240}
    assert {"master"} < set(summary["generator_cpu"]) and len(summary["generator_cpu"]) == 3


@pytest.mark.parametrize("noop_target", [["--stall-at", "2", "--stall-for", "1"]], indirect=True)
def test_a_live_stall_is_hidden_by_a_closed_loop_and_restored_by_the_correction(noop_target, tmp_path):
    done, summary = run_load(
        tmp_path, *url_args(noop_target), "--mode", "closed", "--users", "1", "--rate", "50", "--duration", "6s"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert summary["requests"] < 270  # the single user sent nothing while the target stalled
    assert summary["service_max_ms"] > 500  # the stalled request itself
    raw = json.loads((tmp_path / "locust-result.json").read_text())
    from loadtests.report import latency

    service = latency.summarize(latency.decode(raw["histograms"]["service"]))
    assert service["p99_ms"] < 200  # uncorrected: the stall is one sample in ~250
    assert summary["p99_ms"] > 500  # corrected: the requests the user could not send are counted


def test_refuses_to_send_load_off_this_machine(tmp_path):
    done, _ = run_load(
        tmp_path,
        "--url",
        "https://abc.execute-api.us-east-1.amazonaws.com/dev",
        "--token",
        "t",
        "--secret",
        "shopify=s",
    )
    assert done.returncode != 0
    assert "--allow-remote" in done.stderr
    assert not (tmp_path / "locust.log").exists()


def test_flash_sale_on_the_embedded_stack_loses_nothing(embedded_stack, tmp_path):
    done, summary = run_load(
        tmp_path / "run",
        "--target",
        "embedded",
        "--scenario",
        "flash-sale",
        "--rate",
        "8",
        "--duration",
        "15s",
        "--warmup",
        "10",
        "--gate",
        "p99<5s",
        "--gate",
        "errors<1%",
        "--drain-timeout",
        "3m",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert summary["missing"] == 0 and summary["accepted"] > 0
    assert summary["processed"] + summary["dead_lettered"] == summary["accepted"]
    assert summary["e2e_p99_ms"] is not None and summary["drain_seconds"] is not None
    assert summary["per_hop"]["available"] and summary["per_hop"]["producer"]["handler"]["count"] > 0
    worker = summary["per_hop"]["worker"]  # from the events table: processing_at → processed_at
    assert worker["source"] == "events table" and worker["handler"]["count"] == summary["processed"]
    assert 0 <= worker["handler"]["p50_ms"] <= worker["handler"]["max_ms"] and worker["handler"]["mean_ms"] > 0
    html = (tmp_path / "run" / "report.html").read_text()
    # Latency and throughput over time, the ack distribution, the backlog, the event plane's
    # concurrency, and the end-to-end distribution and its course (the run reads events back);
    # errors over time by status only when some answer was not a 2xx.
    charts = 7 + ("Errors over time by status code" in html)
    assert html.count("<svg") == charts and "Worker concurrency over time (event plane" in html
    assert "End-to-end latency distribution" in html
    plane = summary["event_plane"]
    assert plane["available"] and 1 <= plane["peak_in_flight_batches"] <= plane["concurrency_limit"]

    failed, _ = run_load(
        tmp_path / "impossible",
        "--target",
        "embedded",
        "--rate",
        "5",
        "--duration",
        "3s",
        "--warmup",
        "0",
        "--gate",
        "p99<0.001ms",
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("gate FAILED: p99<0.001ms (measured p99 = ")


def test_a_baseline_stage_runs_without_end_to_end_accounting(embedded_stack, tmp_path):
    from stack.config import load_config
    from stack.embedded.lifecycle import up

    # A second stage on the same emulator (stopped with it by the session fixture's `down`).
    up(load_config(stage="base", handler_set="baseline"))
    done, summary = run_load(
        tmp_path / "base",
        "--target",
        "embedded",
        "--stage",
        "base",
        "--rate",
        "10",
        "--duration",
        "3s",
        "--warmup",
        "5",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert summary["accepted"] == summary["acks"] > 0
    assert summary["e2e"]["available"] is False and "baseline handler set" in summary["e2e"]["reason"]
    assert summary["missing"] is None and summary["processed"] is None and summary["gates"] == []
    assert summary["per_hop"]["worker"]["available"] is False
    assert summary["per_hop"]["producer"]["runtime"]["count"] > 0  # its REPORT lines still count

    refused, _ = run_load(
        tmp_path / "forced", "--target", "embedded", "--stage", "base", "--rate", "10", "--duration", "3s", "--e2e"
    )
    assert refused.returncode != 0 and "baseline handler set" in refused.stderr
