"""`hookstack load`'s guards before any request: the cost confirmation on billed accounts, and
whether end-to-end accounting applies (a baseline handler set keeps no status)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from loadtests.cli import (
    check_cost,
    check_gates_measurable,
    e2e_plan,
    runs_baseline_handlers,
)
from loadtests.model.gates import parse_gates
from loadtests.model.params import LoadParams
from stack.errors import HookstackError
from stack.ops.cost import CONFIRM_FLAG, DEFAULT_THRESHOLD_RPS

AWS_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/dev"
LOCAL_URL = "http://127.0.0.1:4566/dev"


def params(scenario: str = "steady", rate: float = 100.0, peak: float | None = None) -> LoadParams:
    return LoadParams(scenario=scenario, rate=rate, duration=60.0, peak=peak)


def test_peak_rate_is_the_base_rate_times_the_scenarios_multiplier():
    assert params("steady", 20).peak_rate() == 20.0
    assert params("steady", 20, peak=5).peak_rate() == 20.0  # steady has no peak
    assert params("flash-sale", 20).peak_rate() == 100.0
    assert params("black-friday", 20).peak_rate() == 80.0
    assert params("retry-storm", 20, peak=2).peak_rate() == 40.0


def test_aws_above_the_threshold_needs_the_confirmation():
    with pytest.raises(HookstackError, match=rf"aws: 100 rps for 60 s is estimated at \$[0-9.]+ .*{CONFIRM_FLAG}"):
        check_cost(AWS_URL, "aws", params(rate=100), confirmed=False)
    check_cost(AWS_URL, "aws", params(rate=100), confirmed=True)
    check_cost(AWS_URL, "aws", params(rate=DEFAULT_THRESHOLD_RPS), confirmed=False)  # at the threshold: allowed


def test_the_peak_not_the_base_rate_is_checked():
    check_cost(AWS_URL, "aws", params("steady", 20), confirmed=False)
    with pytest.raises(HookstackError, match="100 rps"):
        check_cost(AWS_URL, "aws", params("flash-sale", 20), confirmed=False)


def test_any_non_loopback_url_counts_as_billed_and_loopback_never_does():
    with pytest.raises(HookstackError, match=CONFIRM_FLAG):
        check_cost(AWS_URL, None, params(rate=500), confirmed=False)  # a bare --url
    with pytest.raises(HookstackError, match=CONFIRM_FLAG):
        check_cost("http://10.0.0.5/dev", "localstack", params(rate=500), confirmed=False)
    check_cost(LOCAL_URL, "embedded", params(rate=5000), confirmed=False)
    check_cost(LOCAL_URL, None, params(rate=5000), confirmed=False)


def test_the_command_refuses_before_sending_anything(tmp_path):
    import typer

    from loadtests.cli import load

    app = typer.Typer()
    app.command()(load)
    result = CliRunner().invoke(
        app,
        [
            "--url",
            AWS_URL,
            "--allow-remote",
            "--token",
            "t",
            "--secret",
            "shopify=s",
            "--scenario",
            "flash-sale",
            "--rate",
            "20",
            "--duration",
            "10s",
            "--report-dir",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, HookstackError) and CONFIRM_FLAG in str(result.exception)
    assert not (tmp_path / "run").exists()  # no Locust child, no warm-up, no report


class FakeLambda:
    def __init__(self, handler: str | None):
        self.handler = handler
        self.asked: list[str] = []

    def get_function_configuration(self, FunctionName: str) -> dict:
        self.asked.append(FunctionName)
        if self.handler is None:
            raise RuntimeError("AccessDenied")
        return {"FunctionName": FunctionName, "Handler": self.handler}


def test_a_baseline_stack_is_recognised_by_its_producer_handler():
    client = FakeLambda("handlers.baseline.producer_handler")
    assert runs_baseline_handlers(client, "hookstack-base-producer") is True
    assert client.asked == ["hookstack-base-producer"]
    assert runs_baseline_handlers(FakeLambda("handlers.producer.handler"), "p") is False
    assert runs_baseline_handlers(FakeLambda(None), "p") is None  # unknown, not a guess


@pytest.mark.parametrize(
    ("has_stack", "requested", "baseline", "expected"),
    [
        (True, None, False, (True, None)),
        (True, None, None, (True, None)),
        (True, True, False, (True, None)),
        (True, False, False, (False, "end-to-end accounting turned off (--no-e2e)")),
        (
            True,
            None,
            True,
            (False, "baseline handler set: its worker keeps no status, so there is nothing to read back"),
        ),
        (False, None, None, (False, "no stack outputs (--url without --target)")),
    ],
)
def test_e2e_accounting_plan(has_stack, requested, baseline, expected):
    assert e2e_plan(has_stack, requested, baseline) == expected


def test_e2e_accounting_cannot_be_forced_where_there_is_nothing_to_read():
    with pytest.raises(HookstackError, match="baseline handler set"):
        e2e_plan(True, True, True)
    with pytest.raises(HookstackError, match="--target"):
        e2e_plan(False, True, None)


def test_gates_on_end_to_end_figures_are_refused_without_the_accounting():
    gates = parse_gates(["p99<1s", "e2e_p99<5s", "missing==0", "drain<60s"])
    with pytest.raises(HookstackError, match=r"e2e_p99<5s, missing==0, drain<60s need end-to-end.*--no-e2e"):
        check_gates_measurable(gates, False, "end-to-end accounting turned off (--no-e2e)")
    check_gates_measurable(gates, True, None)
    check_gates_measurable(parse_gates(["p99<1s", "errors<1%"]), False, "baseline")


def test_summary_without_accounting_reports_no_fake_missing_counts():
    from loadtests.report import hops, summary
    from tests.helpers.load_results import synthetic_result

    reason = "baseline handler set: its worker keeps no status, so there is nothing to read back"
    built, _ = summary.build(
        synthetic_result(),
        target="embedded",
        drain=None,
        drain_note=reason,
        per_hop=hops.read_hops({}, {}, worker_reason=reason),
    )
    assert built["missing"] is None and built["processed"] is None and built["e2e_p99_ms"] is None
    assert built["e2e"] == {"available": False, "reason": reason}
    assert built["per_hop"]["worker"] == {"available": False, "reason": reason}
    assert built["passed"] is True  # no gate was added for figures that were not measured
    json.dumps(built)
