"""The behaviour suite's runner, report and `hookstack fidelity` edges (no emulator: a fake probe)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from botocore.exceptions import ClientError

from stack.cli.fidelity import WIDTH, divergence_lines, table_lines
from stack.fidelity import sqs_fifo
from stack.fidelity.behaviour import Behaviour, Differs, NotSupportedHere, Verdict
from stack.fidelity.suite import ALL_BEHAVIOURS, behaviours_in, run_suite
from tests.unit.stack.test_cli_errors import assert_one_line_error


class FakeProbe:
    target = "embedded"

    def __init__(self) -> None:
        self.cleaned = 0

    def clean_up(self) -> list[str]:
        self.cleaned += 1
        return []

    def close(self) -> list[str]:
        return []


def _behaviour(id: str, check: Any) -> Behaviour:
    return Behaviour(id, "sqs-fifo", "statement", "source", check)


def _raise(exc: BaseException) -> Any:
    def check(probe: Any) -> None:
        raise exc

    return check


def test_verdicts_clean_up_and_budget():
    probe = FakeProbe()
    error = ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "SendMessage")
    behaviours = [
        _behaviour("holds", lambda p: None),
        _behaviour("differs", _raise(Differs("got x, AWS gives y"))),
        _behaviour("errors", _raise(error)),
        _behaviour("elsewhere", _raise(NotSupportedHere("not supported on this target"))),
    ]
    report = run_suite(probe, behaviours)  # type: ignore[arg-type]
    assert [o.verdict for o in report.outcomes] == [Verdict.HOLDS, Verdict.DIFFERS, Verdict.ERROR, Verdict.SKIPPED]
    assert report.outcome("differs").how == "got x, AWS gives y"
    assert probe.cleaned == 4
    [score] = report.scores()
    assert (score.holds, score.checked, score.total) == (1, 2, 4)
    late = run_suite(FakeProbe(), behaviours, budget_s=0)  # type: ignore[arg-type]
    assert all(o.verdict is Verdict.SKIPPED and "budget" in o.how for o in late.outcomes)


def test_the_table_fits_80_columns():
    probe = FakeProbe()
    long_how = "x" * 300
    report = run_suite(probe, [_behaviour("a" * 60, _raise(Differs(long_how)))])  # type: ignore[arg-type]
    lines = table_lines(report) + divergence_lines({"sqs-fifo", "lambda-errors"})
    assert all(len(line) <= WIDTH for line in lines), max(lines, key=len)
    assert "sqs-fifo: 0 of 1 hold" in lines
    json.dumps([o.as_json() for o in report.outcomes])


def test_the_suite_holds_forty_sqs_fifo_behaviours_with_sources():
    assert len(sqs_fifo.BEHAVIOURS) == 40
    assert len({b.id for b in ALL_BEHAVIOURS}) == len(ALL_BEHAVIOURS)
    assert all(b.source and b.statement for b in ALL_BEHAVIOURS)
    assert {b.area for b in behaviours_in(["lambda-errors"])} == {"lambda-errors"}


def _hookstack(home: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOOKSTACK_HOME": home}
    return subprocess.run(
        [sys.executable, "-m", "stack.cli", "fidelity", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_cli_edges(tmp_path):
    home = str(tmp_path)
    assert_one_line_error(_hookstack(home), "hookstack up")
    bad_area = _hookstack(home, "--area", "nope")
    assert bad_area.returncode == 2
    assert_one_line_error(bad_area, "unknown area")
    assert_one_line_error(_hookstack(home, "--target", "aws"), "--i-understand-cost")
    assert_one_line_error(
        _hookstack(home, "--target", "localstack", "--endpoint-url", "http://127.0.0.1:9"), "nothing answers"
    )
