"""A load run's gates for CI: one JUnit testcase per gate, GitHub Actions annotations for the failed ones."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from loadtests.model.gates import GateResult
from stack.ci import CheckCase, failure_annotations, under_github_actions, write_junit

CLASSNAME = "hookstack.load"


def gate_cases(results: Sequence[GateResult]) -> list[CheckCase]:
    return [
        CheckCase(name=result.gate.text, passed=result.passed, message=result.explanation, detail=result.line())
        for result in results
    ]


def report_gates(
    results: Sequence[GateResult],
    *,
    scenario: str,
    junit: Path | None,
    environ: Mapping[str, str] = os.environ,
) -> list[str]:
    """Write the JUnit file when asked; the workflow annotations to print (none outside GitHub Actions)."""
    cases = gate_cases(results)
    if junit is not None:
        write_junit(junit, f"hookstack load {scenario}", cases, classname=CLASSNAME)
    return failure_annotations(cases, "load gate") if under_github_actions(environ) else []
