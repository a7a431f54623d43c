"""`hookstack fidelity` against a running embedded stack: the SQS FIFO behaviours that bear on
this stack hold (36 of 40 at least), and a catalogued divergence is reported as one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stack.deploy.outputs import StackOutputs
from stack.fidelity.behaviour import Verdict
from stack.fidelity.divergences import CATALOGUE
from stack.fidelity.probe import Probe
from stack.fidelity.suite import ALL_BEHAVIOURS, run_suite

pytestmark = pytest.mark.integration

MINIMUM_SQS_FIFO_HOLDING = 36


def test_suite_on_the_embedded_target(embedded_stack: StackOutputs) -> None:
    target = embedded_stack.as_target()
    report = run_suite(Probe(target.session(), target.endpoint_url, target.name), ALL_BEHAVIOURS)
    scores = {s.area: s for s in report.scores()}
    errors = [o.as_json() for o in report.outcomes if o.verdict is Verdict.ERROR]
    assert not errors, errors
    assert scores["sqs-fifo"].total == 40
    assert scores["sqs-fifo"].holds >= MINIMUM_SQS_FIFO_HOLDING, [
        o.as_json() for o in report.outcomes if o.verdict is not Verdict.HOLDS
    ]
    assert scores["lambda-errors"].holds == scores["lambda-errors"].total
    # Every divergence the suite can show is reported as one: the suite is able to fail.
    shown = [d for d in CATALOGUE if d.behaviour_id is not None]
    assert shown
    for divergence in shown:
        assert report.outcome(divergence.behaviour_id).verdict is Verdict.DIFFERS, divergence.id


def test_cli_json_on_the_running_stage(embedded_stack: StackOutputs) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", "fidelity", "--json", "--area", "lambda-errors"],
        capture_output=True,
        text=True,
        env=dict(os.environ),  # the session's hookstack home (tests/integration/conftest.py)
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["target"] == "embedded"
    # The error shape of a direct invoke, and the 502 of a raising function behind the fidelity stack's API.
    assert {o["id"]: o["verdict"] for o in report["outcomes"]} == {
        "lambda-error-type-is-exception-class": "holds",
        "api-lambda-error-502": "holds",
    }
    assert report["left_behind"] == []
    assert {d["id"] for d in report["divergences"]} >= {"lambda-errors-non-python"}
