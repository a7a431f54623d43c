"""A load run's gates for CI: one JUnit testcase per gate, GitHub Actions annotations for the failed ones."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from loadtests.model.gates import GateResult
from loadtests.report.compare import delta_table
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


def conclude(
    results: Sequence[GateResult],
    *,
    scenario: str,
    junit: Path | None,
    deltas: Sequence[Any] = (),
    baseline_label: str | None = None,
) -> None:
    """A finished run's last words, after its reports: the deltas against the baseline, the
    workflow annotations (stdout: the runner reads them there), each passed gate, each failed one
    on stderr in one line; exit 1 when a gate failed."""
    if baseline_label is not None and deltas:
        Console().print(delta_table(list(deltas), baseline_label, "this run"))
    for annotation in report_gates(results, scenario=scenario, junit=junit):
        print(annotation)
    console = Console(stderr=True)
    for result in results:
        if result.passed:
            console.print(f"[green]{result.line()}[/]")
    failed = [result for result in results if not result.passed]
    for result in failed:
        print(result.line(), file=sys.stderr)
    if failed:
        raise typer.Exit(1)
