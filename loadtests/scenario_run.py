"""The shell of a load scenario with figures of its own (partner-jobs, invoice-batch, cdc-trickle):
its progress lines, its reports (the scenario's HTML section before the request breakdown), its
summary table's tail, and the end of the run (interruption, baseline deltas, gates)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from loadtests.model import baseline as run_baseline
from loadtests.model.gates import Gate, GateResult, evaluate
from loadtests.report import breakdown, breakdown_html, interrupted
from loadtests.report import html as html_report
from loadtests.report import summary as run_summary
from loadtests.report.ci import conclude

PROGRESS_EVERY_S = 5.0


class Progress:
    """One line every few seconds: the load, then what follows it (``line``)."""

    def __init__(self, console: Console, duration: float):
        self.console, self.duration, self._last = console, duration, 0.0

    def _due(self) -> bool:
        if time.monotonic() - self._last < PROGRESS_EVERY_S:
            return False
        self._last = time.monotonic()
        return True

    def on_load(self, line: dict[str, Any]) -> None:
        if self._due():
            self.console.print(
                f"load t={max(0.0, line['load_time']):.0f}/{self.duration:.0f}s offered={line['offered_rps']:.0f}/s "
                f"sent={line['sent']} answered={line['completed']} 202={line['acks']} errors={line['errors']}"
            )

    def line(self, text: Callable[[], str]) -> None:
        """``text()`` printed, when a line is due."""
        if self._due():
            self.console.print(text())


def write_reports(
    directory: Path,
    summary: dict[str, Any],
    plot: dict[str, Any],
    section: Callable[[dict[str, Any], dict[str, Any]], str],
) -> tuple[Path, Path]:
    """summary.json and report.html, with the scenario's own ``section`` before the breakdown."""
    summary_path, html_path = directory / "summary.json", directory / "report.html"
    summary_path.write_text(json.dumps(summary, indent=2))
    page = html_report.render(
        summary,
        plot,
        notices=breakdown_html.notices(summary),
        extra_sections=section(summary, plot) + breakdown_html.sections(summary, plot),
    )
    html_path.write_text(page, encoding="utf-8")
    return summary_path, html_path


def request_summary(result: dict[str, Any], *, target: str, e2e_note: str) -> dict[str, Any]:
    """The webhook summary's request figures (202 latency, errors, rates) and the per-key
    breakdown, which every scenario through the API shares before its own figures."""
    summary, _ = run_summary.build(result, target=target, drain=None, drain_note=e2e_note)
    summary.update(breakdown.summary_fields(result, None))
    return summary


def judge(gates: list[Gate], summary: dict[str, Any]) -> list[GateResult]:
    """Evaluate the gates on the whole summary and record them in it."""
    results = evaluate(gates, summary)
    summary["gates"] = [g.as_dict() for g in results]
    summary["passed"] = all(g.passed for g in results)
    return results


def submissions_rows(summary: dict[str, Any], block: dict[str, Any]) -> list[tuple[str, str]]:
    """The first rows of a submitting scenario's table: rates, accepted, refusals, 202 latency."""
    return [
        ("offered / achieved", f"{summary['offered_rps']} / {summary['achieved_rps']} req/s"),
        ("submitted / accepted (202)", f"{block['submitted']} / {block['accepted']}"),
        ("refused by status", json.dumps(block["refused_by_status"]) if block["refused_by_status"] else "none"),
        ("202 latency p50/p99/max", " / ".join(str(summary[f"{k}_ms"]) for k in ("p50", "p99", "max")) + " ms"),
    ]


def print_run_table(console: Console, table: Table, summary: dict[str, Any], paths: tuple[Path, Path]) -> None:
    """The summary table, then what limited the load generator, then where the reports are."""
    console.print(table)
    for note in summary["generator_notes"]:
        console.print(f"[yellow]generator: {note}[/]")
    console.print(f"reports: {paths[0]}  {paths[1]}")


def finish_run(
    summary: dict[str, Any],
    results: list[GateResult],
    plot: dict[str, Any],
    *,
    result: dict[str, Any],
    stopped_during: str | None,
    report_dir: Path,
    section: Callable[[dict[str, Any], dict[str, Any]], str],
    print_table: Callable[[Console, dict[str, Any], tuple[Path, Path]], None],
    scenario: str,
    junit: Path | None,
    baseline_run: Path | None,
    baseline_summary: dict[str, Any] | None,
) -> None:
    """The end of a scenario's run with figures of its own: the interruption and the baseline in
    the summary, the reports, the table; exit 130 when interrupted, else ``conclude`` (the gates)."""
    summary["interrupted"] = stopped_during is not None
    if stopped_during is not None:
        summary.update(interrupted.fields(result, stopped_during))
    deltas = run_baseline.deltas(summary, baseline_summary) if baseline_summary is not None else []
    if baseline_run is not None and baseline_summary is not None:
        summary["baseline"] = {
            "summary": str(run_baseline.summary_path(baseline_run)),
            "started_at": baseline_summary.get("started_at"),
            "deltas": [delta.as_dict() for delta in deltas],
        }
    paths = write_reports(report_dir, summary, plot, section)
    print_table(Console(), summary, paths)
    if stopped_during is not None:
        Console(stderr=True).print(f"[yellow]interrupted during the {stopped_during}; partial reports written[/]")
        raise typer.Exit(130)
    conclude(
        results,
        scenario=scenario,
        junit=junit,
        deltas=deltas,
        baseline_label=str(run_baseline.summary_path(baseline_run)) if baseline_run is not None else None,
    )
