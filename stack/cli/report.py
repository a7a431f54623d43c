"""`hookstack report`: read load reports after the fact (`compare`: two runs side by side)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stack.cli.app import JsonOpt, app, out, print_json, progress

report_app = typer.Typer(help="Read load reports: compare two runs.", no_args_is_help=True)
app.add_typer(report_app, name="report")

RunArg = Annotated[Path, typer.Argument(help="a run: its summary.json or its report directory", show_default=False)]


@report_app.command("compare")
def compare(
    baseline: RunArg,
    current: RunArg,
    html_out: Annotated[Path, typer.Option("--out", help="where the HTML comparison goes")] = Path("compare.html"),
    as_json: JsonOpt = False,
) -> None:
    """Two runs side by side (the first is the baseline): figures, deltas, overlaid percentile curves."""
    from loadtests.report import compare as run_compare

    first, second = run_compare.read_run(baseline), run_compare.read_run(current)
    html_out.write_text(run_compare.render(first, second), encoding="utf-8")
    if as_json:
        print_json({**run_compare.comparison(first, second), "html": str(html_out)})
        return
    rows = run_compare.deltas(second.summary, first.summary)
    out.print(run_compare.delta_table(rows, first.label, second.label))
    progress(f"comparison: {html_out}")
