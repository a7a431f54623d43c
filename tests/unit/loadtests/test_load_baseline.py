"""Relative gates (``p99<+10%``) set against a baseline run, and the deltas between two runs."""

from __future__ import annotations

import json
import math

import pytest

from loadtests.model.baseline import RunReadError, deltas, read_summary
from loadtests.model.gates import GateError, against_baseline, evaluate, parse_gate, parse_gates

BASELINE = {"scenario": "steady", "p99_ms": 200.0, "max_ms": 400.0, "achieved_rps": 100.0, "error_rate": 0.0}
CURRENT = {"scenario": "steady", "p99_ms": 230.0, "max_ms": 420.0, "achieved_rps": 96.0, "error_rate": 0.002}


@pytest.mark.parametrize(
    ("text", "threshold"),
    [
        ("p99<+10%", 220.0),
        ("p(99) <= +10 %", 220.0),
        ("p99<-5%", 190.0),
        ("p99<+20ms", 220.0),
        ("p99<+0.5s", 700.0),
        ("achieved_rps>=-5%", 95.0),
        ("achieved_rps>=-3rps", 97.0),
    ],
)
def test_a_relative_gate_takes_its_threshold_from_the_baseline(text, threshold):
    gate = parse_gate(text)
    assert gate.needs_baseline and math.isnan(gate.threshold)
    resolved = gate.against(BASELINE)
    assert resolved.threshold == pytest.approx(threshold)
    assert resolved.baseline == BASELINE[resolved.metric.key]


def test_relative_gates_pass_and_fail_against_the_baseline_with_the_limit_in_the_line():
    gates = against_baseline(parse_gates(["p99<+10%", "p99<+20%", "max<+50ms", "achieved_rps>=-5%"]), BASELINE)
    results = evaluate(gates, CURRENT)
    assert [r.passed for r in results] == [False, True, True, True]
    assert results[0].line() == ("gate FAILED: p99<+10% (measured p99 = 230.0 ms; baseline 200.0 ms, limit 220.0 ms)")
    assert results[0].as_dict()["baseline"] == 200.0


def test_absolute_gates_are_unchanged_by_a_baseline():
    (gate,) = against_baseline(parse_gates(["p99<250ms"]), BASELINE)
    assert gate.threshold == 250.0 and gate.baseline is None
    assert "baseline" not in evaluate([gate], CURRENT)[0].as_dict()


def test_a_relative_gate_without_a_baseline_is_a_usage_error():
    with pytest.raises(GateError, match="pass --baseline") as raised:
        against_baseline(parse_gates(["p99<250ms", "p99<+10%"]), None)
    assert raised.value.exit_code == 2
    with pytest.raises(GateError, match="pass --baseline"):
        parse_gate("p99<+10%").check(CURRENT)


def test_a_relative_gate_on_a_figure_the_baseline_lacks_is_a_usage_error():
    with pytest.raises(GateError, match="did not measure e2e_p99"):
        against_baseline(parse_gates(["e2e_p99<+10%"]), {**BASELINE, "e2e_p99_ms": None})


def test_a_relative_amount_must_fit_the_metric():
    assert parse_gate("missing<=+1").against({"missing": 0}).threshold == 1.0  # a count takes a bare amount
    with pytest.raises(GateError, match="does not fit p99"):
        parse_gate("p99<+3rps")


def test_deltas_say_which_way_each_figure_moved():
    by_name = {d.name: d for d in deltas(CURRENT, BASELINE)}
    assert by_name["p99"].change == pytest.approx(30.0)
    assert by_name["p99"].relative == pytest.approx(0.15)
    assert by_name["p99"].verdict == "worse"
    assert by_name["achieved_rps"].verdict == "worse"  # fewer answers per second
    assert by_name["errors"].relative is None  # from zero: no share of the baseline
    assert by_name["errors"].verdict == "worse"
    assert by_name["e2e_p99"].verdict == "not comparable"
    assert by_name["p99"].change_text == "+30.0 ms (+15.0 %)"
    assert [d.name for d in deltas(CURRENT, BASELINE)] == [
        "p50", "p95", "p99", "max", "e2e_p99", "errors", "achieved_rps", "drain",
    ]  # fmt: skip


def test_a_faster_run_reads_better():
    (p99,) = [d for d in deltas({**CURRENT, "p99_ms": 150.0}, BASELINE) if d.name == "p99"]
    assert (p99.verdict, p99.change_text) == ("better", "-50.0 ms (-25.0 %)")


def test_a_run_is_its_summary_or_its_report_directory(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps(BASELINE))
    assert read_summary(tmp_path) == read_summary(tmp_path / "summary.json") == BASELINE


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("{not json", "is not JSON"), (json.dumps({"a": 1}), "not the summary")],
)
def test_what_is_not_a_run_summary_is_a_usage_error(tmp_path, content, message):
    path = tmp_path / "summary.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RunReadError, match=message) as raised:
        read_summary(path)
    assert raised.value.exit_code == 2
