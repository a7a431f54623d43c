"""Pass/fail gates on a run's summary, in k6 threshold style.

    p99<250ms   p(99)<250   p99.9<1s   max<2s   errors<0.1%   errors<0.001
    achieved_rps>=400   e2e_p99<5s   missing==0   dead_lettered<=10   drain<60s
    final_p99<30s   unfinished==0   lost==0   failed==0   jobs_per_s>=5   (partner-jobs)
    invoices_p99<30s   all_complete<120s   executions_per_s>=5   double_booked==0   (invoice-batch)
    lag_p99<60s   undelivered==0   order_violations==0   leaked==0   answered_429<=5   (cdc-trickle)

Latency thresholds default to milliseconds; ``errors`` is a share of requests (``%`` or a
fraction); ``achieved_rps`` requests/s; ``missing`` and ``dead_lettered`` counts.

A signed value makes a relative gate, set against a baseline run (``hookstack load --baseline``):

    p99<+10%   e2e_p99<=+20%   max<+50ms   achieved_rps>=-5%   errors<=+0.001

``+N%`` is a share of the baseline's own value (``p99<+10%``: at most 10 % above the baseline's
p99); any other unit is an amount added to it (``max<+50ms``: at most 50 ms above).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from stack.errors import UsageError

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_GATE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.()]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<sign>[+-])?(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>ms|us|µs|s|%|rps|/s)?\s*$"
)
_PERCENTILE = re.compile(r"^(?P<prefix>e2e_|final_|invoices_|lag_)?p\(?(?P<p>[0-9]+(?:\.[0-9]+)?)\)?$")
_PERCENTILE_NAMES = {"50": "p50", "90": "p90", "95": "p95", "99": "p99", "99.9": "p999", "999": "p999"}


@dataclass(frozen=True)
class Metric:
    key: str  # summary key
    kind: str  # "ms", "ratio", "rps", "count", "s", "per_s"
    label: str


def _latency(name: str, key: str) -> Metric:
    return Metric(key, "ms", name)


METRICS: dict[str, Metric] = {
    **{name: _latency(name, f"{name}_ms") for name in ("p50", "p90", "p95", "p99", "p999", "max")},
    **{
        f"e2e_{name}": _latency(f"e2e_{name}", f"e2e_{name}_ms") for name in ("p50", "p90", "p95", "p99", "p999", "max")
    },
    "errors": Metric("error_rate", "ratio", "errors"),
    "achieved_rps": Metric("achieved_rps", "rps", "achieved_rps"),
    "missing": Metric("missing", "count", "missing"),
    "dead_lettered": Metric("dead_lettered", "count", "dead_lettered"),
    "drain": Metric("drain_seconds", "s", "drain"),
    # partner-jobs (``loadtests.report.jobs``): submit → final status, and what became of the jobs
    **{
        f"final_{name}": _latency(f"final_{name}", f"final_{name}_ms")
        for name in ("p50", "p90", "p95", "p99", "p999", "max")
    },
    "succeeded": Metric("succeeded", "count", "succeeded"),
    "failed": Metric("failed", "count", "failed"),
    "unfinished": Metric("unfinished", "count", "unfinished"),
    "lost": Metric("lost", "count", "lost"),
    "jobs_per_s": Metric("jobs_per_s", "per_s", "jobs_per_s"),
    # invoice-batch (``loadtests.report.invoices``): submit → final, the batch's span and rate, its outcomes
    **{
        f"invoices_{name}": _latency(f"invoices_{name}", f"invoices_{name}_ms")
        for name in ("p50", "p90", "p95", "p99", "p999", "max")
    },
    "all_complete": Metric("all_complete_s", "s", "all_complete"),
    "executions_per_s": Metric("executions_per_s", "per_s", "executions_per_s"),
    "compensated": Metric("compensated", "count", "compensated"),
    "retries": Metric("retries", "count", "retries"),
    "double_booked": Metric("double_booked", "count", "double_booked"),
    # cdc-trickle (``loadtests.report.cdc``): insert → the partner's 2xx, and what reached the partner
    **{
        f"lag_{name}": _latency(f"lag_{name}", f"lag_{name}_ms") for name in ("p50", "p90", "p95", "p99", "p999", "max")
    },
    **{
        name: Metric(name, "count", name)
        for name in ("undelivered", "order_violations", "duplicates", "leaked", "answered_429", "answered_5xx")
    },
    "most_in_1s": Metric("most_in_1s", "count", "most_in_1s"),
    "delivered_per_s": Metric("delivered_per_s", "per_s", "delivered_per_s"),
    "trickle_drain": Metric("trickle_drain_s", "s", "trickle_drain"),
}
# What every run that follows its work to a final status counts.
OUTCOME_KEYS = frozenset({"succeeded", "failed", "unfinished", "lost"})
# The summary keys a partner-jobs run measures beyond the request figures.
JOBS_METRIC_KEYS = (
    frozenset(metric.key for name, metric in METRICS.items() if name.startswith("final_"))
    | {"jobs_per_s"}
    | OUTCOME_KEYS
)
# The summary keys an invoice-batch run measures beyond the request figures.
INVOICE_METRIC_KEYS = frozenset(metric.key for name, metric in METRICS.items() if name.startswith("invoices_")) | {
    "all_complete_s",
    "executions_per_s",
    "compensated",
    "retries",
    "double_booked",
    *OUTCOME_KEYS,
}
# The summary keys a cdc-trickle run measures beyond the write figures (``loadtests.report.cdc``).
CDC_METRIC_KEYS = frozenset(metric.key for name, metric in METRICS.items() if name.startswith("lag_")) | {
    "undelivered",
    "order_violations",
    "duplicates",
    "leaked",
    "answered_429",
    "answered_5xx",
    "most_in_1s",
    "delivered_per_s",
    "trickle_drain_s",
}
# What a webhook run measures and the scenarios with figures of their own do not (the events table, the drain).
WEBHOOK_ONLY_KEYS = frozenset(
    {"missing", "dead_lettered", "drain_seconds", *(f"e2e_{n}_ms" for n in ("p50", "p90", "p95", "p99", "p999", "max"))}
)
# Scenario → the figures of its own, and what they are about (for the refusal's wording).
SCENARIO_METRIC_KEYS: dict[str, tuple[frozenset[str], str]] = {
    "partner-jobs": (JOBS_METRIC_KEYS, "partner jobs"),
    "invoice-batch": (INVOICE_METRIC_KEYS, "invoices"),
    "cdc-trickle": (CDC_METRIC_KEYS, "the CDC trickle at the partner"),
}
_ALIASES = {
    "error_rate": "errors",
    "errors_rate": "errors",
    "http_req_failed": "errors",
    "rps": "achieved_rps",
    "drain_seconds": "drain",
    "drain_s": "drain",
}
_UNITS: dict[str, dict[str | None, float]] = {
    "ms": {None: 1.0, "ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001},
    "s": {None: 1.0, "s": 1.0, "ms": 0.001},
    "ratio": {None: 1.0, "%": 0.01},
    "rps": {None: 1.0, "rps": 1.0, "/s": 1.0},
    "count": {None: 1.0},
    "per_s": {None: 1.0, "/s": 1.0},
}


class GateError(UsageError, ValueError):
    """A gate that cannot be parsed: a usage error (exit 2), never mistaken for a failed gate (exit 1)."""


@dataclass(frozen=True)
class RelativeBound:
    """A threshold set against a baseline run's value of the same metric."""

    change: float  # signed: a fraction of the baseline (``percent``), else an amount in the metric's base unit
    percent: bool

    def threshold(self, baseline: float) -> float:
        return baseline * (1 + self.change) if self.percent else baseline + self.change


@dataclass(frozen=True)
class Gate:
    text: str
    metric: Metric
    op: str
    threshold: float  # in the metric's base unit (ms, fraction, rps, count, s); NaN until a relative gate is resolved
    relative: RelativeBound | None = None
    baseline: float | None = None  # the baseline's value a relative gate was resolved against

    @property
    def needs_baseline(self) -> bool:
        return self.relative is not None and self.baseline is None

    def against(self, baseline: Mapping[str, Any]) -> Gate:
        """This gate with its threshold set from a baseline run's summary (an absolute gate as is)."""
        if self.relative is None:
            return self
        value = baseline.get(self.metric.key)
        if value is None:
            raise GateError(f"gate {self.text!r}: the baseline run did not measure {self.metric.label}")
        return replace(self, threshold=self.relative.threshold(float(value)), baseline=float(value))

    def check(self, summary: Mapping[str, Any]) -> GateResult:
        if self.needs_baseline:
            raise GateError(f"gate {self.text!r} is relative to a baseline run: pass --baseline SUMMARY")
        measured = summary.get(self.metric.key)
        if measured is None:
            return GateResult(self, None, False)
        return GateResult(self, float(measured), _OPERATORS[self.op](float(measured), self.threshold))


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    measured: float | None
    passed: bool

    @property
    def measured_text(self) -> str:
        if self.measured is None:
            return "not measured on this run"
        return format_value(self.gate.metric, self.measured)

    @property
    def explanation(self) -> str:
        """What was measured, and for a relative gate the baseline and the limit it set."""
        metric, gate = self.gate.metric, self.gate
        text = f"measured {metric.label} = {self.measured_text}"
        if gate.baseline is not None:
            text += f"; baseline {format_value(metric, gate.baseline)}, limit {format_value(metric, gate.threshold)}"
        return text

    def line(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"gate {verdict}: {self.gate.text} ({self.explanation})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate.text,
            "metric": self.gate.metric.key,
            "op": self.gate.op,
            "threshold": self.gate.threshold,
            "measured": self.measured,
            "passed": self.passed,
            **({"baseline": self.gate.baseline} if self.gate.relative is not None else {}),
        }


def format_value(metric: Metric, value: float) -> str:
    if metric.kind == "ms":
        return f"{value:.1f} ms" if value >= 10 else f"{value:.3f} ms"
    if metric.kind == "ratio":
        return f"{value * 100:.3f} %"
    if metric.kind == "rps":
        return f"{value:.1f} req/s"
    if metric.kind == "s":
        return f"{value:.1f} s"
    if metric.kind == "per_s":
        return f"{value:.2f} /s"
    return f"{value:g}"


def _metric(name: str) -> Metric:
    name = name.strip().lower()
    name = _ALIASES.get(name, name)
    if name in METRICS:
        return METRICS[name]
    match = _PERCENTILE.match(name)
    if match:
        short = _PERCENTILE_NAMES.get(match.group("p"))
        if short:
            return METRICS[(match.group("prefix") or "") + short]
        raise GateError(f"percentile p{match.group('p')} is not reported (use p50, p90, p95, p99, p99.9)")
    known = ", ".join(sorted(METRICS))
    raise GateError(f"unknown gate metric {name!r} (known: {known})")


def parse_gate(text: str) -> Gate:
    match = _GATE.match(text)
    if not match:
        raise GateError(f"cannot read gate {text!r}: expected METRIC OP VALUE[UNIT], e.g. p99<250ms or p99<+10%")
    metric = _metric(match.group("metric"))
    unit, sign = match.group("unit"), match.group("sign")
    value = float(match.group("value")) * (-1.0 if sign == "-" else 1.0)
    if sign is not None and unit == "%":  # a share of the baseline's value, whatever the metric's unit
        return Gate(text.strip(), metric, match.group("op"), math.nan, RelativeBound(value / 100, percent=True))
    scales = _UNITS[metric.kind]
    if unit not in scales:
        allowed = ", ".join(u for u in scales if u) or "none"
        raise GateError(f"gate {text!r}: unit {unit!r} does not fit {metric.label} (allowed: {allowed})")
    if sign is not None:
        return Gate(text.strip(), metric, match.group("op"), math.nan, RelativeBound(value * scales[unit], False))
    return Gate(text.strip(), metric, match.group("op"), value * scales[unit])


def parse_gates(texts: list[str]) -> list[Gate]:
    return [parse_gate(text) for text in texts]


def against_baseline(gates: list[Gate], baseline: Mapping[str, Any] | None) -> list[Gate]:
    """The gates with every relative threshold set from ``baseline``; a relative gate without
    one is a usage error, raised before anything runs."""
    if baseline is None:
        relative = [gate.text for gate in gates if gate.needs_baseline]
        if relative:
            raise GateError(f"gate(s) {', '.join(relative)} are relative to a baseline run: pass --baseline SUMMARY")
        return gates
    return [gate.against(baseline) for gate in gates]


def unmeasured(gates: list[Gate], scenario: str) -> str | None:
    """Why the gates on figures ``scenario`` does not measure are refused (None: every gate is
    measurable): another scenario's own figures, or, for a scenario with figures of its own, the
    webhook-only ones."""
    own = SCENARIO_METRIC_KEYS.get(scenario)
    if own is not None:
        webhook = [g.text for g in gates if g.metric.key in WEBHOOK_ONLY_KEYS]
        if webhook:
            what = "webhook events (the events table, the drain)"
            return f"gate(s) {', '.join(webhook)} measure {what}, which this run does not"
    mine = own[0] if own is not None else frozenset()
    others = {name: entry for name, entry in SCENARIO_METRIC_KEYS.items() if name != scenario}
    foreign = [g for g in gates if g.metric.key not in mine and any(g.metric.key in k for k, _ in others.values())]
    if not foreign:
        return None
    # A figure several scenarios measure (``lost``) names them all.
    owners = [(name, subject) for name, (keys, subject) in others.items() if any(g.metric.key in keys for g in foreign)]
    subjects, names = " or ".join(s for _, s in owners), " or ".join(n for n, _ in owners)
    texts = ", ".join(g.text for g in foreign)
    return f"gate(s) {texts} measure {subjects} (--scenario {names}), which this run does not"


def evaluate(gates: list[Gate], summary: Mapping[str, Any]) -> list[GateResult]:
    return [gate.check(summary) for gate in gates]
