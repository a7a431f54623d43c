"""`hookstack load --scenario invoice-batch` on the embedded target, as a user runs it: a month-end
burst of invoices through Locust, every accepted invoice followed to its final status, the
executions' retries and the partner simulator's bookings read, the reports with the invoices'
figures, the gates; and a gate that must fail failing the command. Its own stage (the
orchestration pattern) and partner simulator, in a private home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.config import load_config
from stack.partner.process import PartnerProcess, running_partner
from tests.helpers.private_stage import private_stage

pytestmark = pytest.mark.integration

STAGE = "loadinv"
RUN_TIMEOUT_S = 300  # the load (10 s), the follow-up (bounded by --drain-timeout) and the start-up


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerProcess]:
    with running_partner() as process:
        yield process


@pytest.fixture(scope="module")
def invoices_home(tmp_path_factory, partner) -> Iterator[Path]:
    config = load_config(stage=STAGE, patterns=["orchestration"], partner_url=partner.url)
    with private_stage(tmp_path_factory, config) as (_, home):
        yield home


def _load(home: Path, report_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "stack.cli", "load", "--scenario", "invoice-batch", "--stage", STAGE]
    return subprocess.run(
        [*command, *args, "--report-dir", str(report_dir)],
        env={**os.environ, "HOOKSTACK_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def test_invoice_batch_completes_every_invoice_booked_once_and_reports_it(invoices_home, partner, tmp_path):
    report_dir = tmp_path / "report"
    # 1/s for 1.6 s, 4/s for 4 s, 1/s for 2.4 s: about 20 invoices. The steps' width (4) throttles
    # even these; the emulator's plain backoff (it ignores MaxDelaySeconds) makes that slow.
    completed = _load(
        invoices_home,
        report_dir,
        *("--rate", "1", "--duration", "8s", "--peak", "4", "--warmup", "2", "--drain-timeout", "150s"),
        *("--gate", "unfinished==0", "--gate", "double_booked==0", "--gate", "failed==0"),
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "following invoices:" in completed.stderr  # progress lines during the follow-up
    summary = json.loads((report_dir / "summary.json").read_text())
    invoices = summary["invoices"]
    assert summary["scenario"] == "invoice-batch" and invoices["followed"]
    assert invoices["accepted"] > 0 and invoices["accepted"] == invoices["submitted"] == summary["accepted"]
    assert summary["succeeded"] == invoices["accepted"]
    assert summary["lost"] == summary["unfinished"] == summary["failed"] == summary["compensated"] == 0
    assert invoices["final"]["count"] == invoices["accepted"] and summary["invoices_p99_ms"] > 0
    assert summary["all_complete_s"] > 0 and summary["executions_per_s"] > 0
    assert invoices["steps"]["saved"]["count"] == invoices["steps"]["completed"]["count"] == invoices["accepted"]
    card = sum(ack["count"] for method, ack in invoices["ack_by_payment"].items() if method == "card" and ack)
    assert invoices["steps"]["charged"]["count"] == card  # one charge per card invoice, none for transfers
    assert invoices["retries"]["histories_read"] == invoices["accepted"] and summary["retries"] is not None
    assert invoices["bookings"]["measured"] and invoices["bookings"]["booked_once"] == invoices["accepted"]
    assert summary["double_booked"] == 0
    # the simulator's own records agree: each accepted invoice booked exactly once
    booked = Counter(str(b.invoice.get("invoice_id")) for b in partner.client.accounting().bookings)
    assert all(booked[i] == 1 for i in json.loads((report_dir / "locust-result.json").read_text())["acked_ids"])
    expected = {"unfinished==0", "double_booked==0", "failed==0", "lost==0"}
    assert {g["gate"] for g in summary["gates"]} == expected and summary["passed"]
    page = (report_dir / "report.html").read_text()
    assert "<h2>Invoices</h2>" in page and "Submit → final status" in page and "202 latency by payment method" in page


def test_a_gate_that_must_fail_fails_the_run_with_its_reports(invoices_home, tmp_path):
    report_dir = tmp_path / "failing"
    completed = _load(
        invoices_home,
        report_dir,
        *("--rate", "1", "--duration", "2s", "--peak", "1", "--warmup", "0", "--drain-timeout", "120s"),
        *("--gate", "invoices_max<1ms"),
    )
    assert completed.returncode == 1, completed.stderr[-3000:]
    assert "gate FAILED: invoices_max<1ms" in completed.stderr
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["passed"] is False and summary["lost"] == 0


def test_a_gate_on_a_figure_the_scenario_does_not_measure_is_refused_before_any_load(invoices_home, tmp_path):
    completed = _load(invoices_home, tmp_path / "refused", "--gate", "e2e_p99<5s")
    assert completed.returncode == 1 and "webhook events" in completed.stderr
    assert not (tmp_path / "refused").exists()  # nothing ran
