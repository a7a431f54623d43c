"""Gate parsing (k6 threshold style) and evaluation against a summary."""

from __future__ import annotations

import pytest

from loadtests.model.gates import GateError, evaluate, parse_gate, parse_gates


@pytest.mark.parametrize(
    ("text", "key", "op", "threshold"),
    [
        ("p99<250ms", "p99_ms", "<", 250.0),
        ("p(99)<250", "p99_ms", "<", 250.0),
        ("p(99.9) <= 1s", "p999_ms", "<=", 1000.0),
        ("p99.9<1.5s", "p999_ms", "<", 1500.0),
        ("p999<800", "p999_ms", "<", 800.0),
        ("p50<500us", "p50_ms", "<", 0.5),
        ("p(95)<100ms", "p95_ms", "<", 100.0),
        ("max<2s", "max_ms", "<", 2000.0),
        ("errors<0.1%", "error_rate", "<", 0.001),
        ("errors<0.01", "error_rate", "<", 0.01),
        ("error_rate<1%", "error_rate", "<", 0.01),
        ("achieved_rps>=400", "achieved_rps", ">=", 400.0),
        ("achieved_rps > 90rps", "achieved_rps", ">", 90.0),
        ("e2e_p99<5s", "e2e_p99_ms", "<", 5000.0),
        ("e2e_p(99)<5000", "e2e_p99_ms", "<", 5000.0),
        ("missing==0", "missing", "==", 0.0),
        ("dead_lettered<=10", "dead_lettered", "<=", 10.0),
        ("drain<60s", "drain_seconds", "<", 60.0),
    ],
)
def test_parse(text, key, op, threshold):
    gate = parse_gate(text)
    assert (gate.metric.key, gate.op, gate.threshold) == (key, op, pytest.approx(threshold))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p99", "cannot read gate"),
        ("p99<fast", "cannot read gate"),
        ("latency<3", "unknown gate metric"),
        ("p(97)<3", "not reported"),
        ("errors<3ms", "does not fit errors"),
        ("missing<1%", "does not fit missing"),
        ("p99=<3", "cannot read gate"),
    ],
)
def test_parse_errors_say_what_is_wrong(text, message):
    with pytest.raises(GateError, match=message):
        parse_gate(text)


SUMMARY = {
    "p99_ms": 312.5,
    "p50_ms": 12.0,
    "error_rate": 0.0004,
    "achieved_rps": 480.0,
    "missing": 0,
    "e2e_p99_ms": None,
    "max_ms": 2500.0,
}


def test_evaluate_pass_and_fail_with_one_line_each():
    results = evaluate(parse_gates(["p99<250ms", "errors<0.1%", "achieved_rps>=400", "missing==0", "max<2s"]), SUMMARY)
    assert [r.passed for r in results] == [False, True, True, True, False]
    assert results[0].line() == "gate FAILED: p99<250ms (measured p99 = 312.5 ms)"
    assert results[1].line() == "gate passed: errors<0.1% (measured errors = 0.040 %)"
    assert results[4].line() == "gate FAILED: max<2s (measured max = 2500.0 ms)"
    assert "\n" not in results[0].line()


def test_a_metric_the_run_did_not_measure_fails_the_gate():
    (result,) = evaluate(parse_gates(["e2e_p99<5s"]), SUMMARY)
    assert not result.passed
    assert result.line() == "gate FAILED: e2e_p99<5s (measured e2e_p99 = not measured on this run)"


def test_boundaries_follow_the_operator():
    summary = {"p99_ms": 250.0}
    assert evaluate(parse_gates(["p99<=250ms"]), summary)[0].passed
    assert not evaluate(parse_gates(["p99<250ms"]), summary)[0].passed
    assert evaluate(parse_gates(["p99!=1"]), summary)[0].passed
