"""`hookstack load --scenario cdc-trickle` on the embedded target, as a user runs it: table writes
through Locust (inserts, updates, deletes), the trickle fired back to back, every insert followed
to the partner simulator's records, the reports with the cdc figures. Its own cdc stage and
partner simulator, in a private home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.config import load_config
from stack.partner.process import PartnerProcess, running_partner
from tests.helpers.private_stage import private_stage

pytestmark = pytest.mark.integration

STAGE = "loadcdc"
PARTNER_RATE_PER_S = 20.0
PARTNER_BURST = 1
TRICKLE_RATE_PER_S = 15.0  # below the partner's limit, as a stage is configured
RUN_TIMEOUT_S = 240  # the load (10 s), the drain (bounded by --drain-timeout) and the start-up


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerProcess]:
    with running_partner(rate_limit_per_s=PARTNER_RATE_PER_S, burst=PARTNER_BURST) as running:
        yield running


@pytest.fixture(scope="module")
def cdc_home(tmp_path_factory, partner) -> Iterator[Path]:
    config = load_config(
        stage=STAGE, patterns=["cdc"], partner_url=partner.url, cdc_trickle_rate_per_s=TRICKLE_RATE_PER_S
    )
    with private_stage(tmp_path_factory, config) as (_, home):
        yield home


def _load(home: Path, report_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "stack.cli",
            "load",
            "--scenario",
            "cdc-trickle",
            "--stage",
            STAGE,
            "--groups",
            "6",
            "--drain-timeout",
            "90s",
            "--report-dir",
            str(report_dir),
            *args,
        ],
        env={**os.environ, "HOOKSTACK_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def test_every_insert_reaches_the_partner_once_in_order_within_its_limit(cdc_home, tmp_path):
    report_dir = tmp_path / "report"
    completed = _load(cdc_home, report_dir, "--rate", "10", "--duration", "10s", "--gate", "lag_p99<120s")
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads((report_dir / "summary.json").read_text())
    cdc = summary["cdc"]
    assert summary["scenario"] == "cdc-trickle" and summary["trickle"]["mode"] == "fire"
    assert cdc["inserted"] > 0 and cdc["updated"] + cdc["deleted"] > 0
    assert summary["errors"] == 0 and summary["acks"] == summary["requests"]  # every write acknowledged
    assert sum(entry["ack"]["count"] for entry in summary["by_key"].values()) == summary["requests"]
    assert cdc["writes"]["insert"] == cdc["inserted"]  # every insert a new item
    assert cdc["delivered"] == cdc["inserted"] and summary["undelivered"] == 0
    assert summary["duplicates"] == 0 and summary["order_violations"] == 0
    assert summary["leaked"] == 0 and cdc["capture_failures"] == 0
    assert summary["most_in_1s"] <= PARTNER_BURST + PARTNER_RATE_PER_S and cdc["limits_exceeded"] == []
    assert cdc["queue_left"] == 0 and cdc["dlq_gained"] == 0
    assert summary["lag_p50_ms"] is not None and summary["lag_p50_ms"] <= summary["lag_max_ms"]
    assert set(summary["by_key"]) >= {"cdc insert"}
    expected_gates = {"lag_p99<120s", "undelivered==0", "order_violations==0", "leaked==0"}
    assert {g["gate"] for g in summary["gates"]} == expected_gates and summary["passed"]
    page = (report_dir / "report.html").read_text()
    assert "CDC trickle at the partner" in page and "Outgoing rate at the partner against its limit" in page
    assert "load t=" in completed.stderr  # progress lines


def test_a_gate_the_run_misses_exits_1(cdc_home, tmp_path):
    report_dir = tmp_path / "report"
    completed = _load(cdc_home, report_dir, "--rate", "2", "--duration", "3s", "--gate", "lag_max<1ms")
    assert completed.returncode == 1, completed.stderr[-3000:]
    assert "gate FAILED: lag_max<1ms" in completed.stderr
    assert json.loads((report_dir / "summary.json").read_text())["undelivered"] == 0
