"""Two runs side by side: the JSON comparison, the HTML page with overlaid percentile curves."""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console

from loadtests.report import compare
from tests.helpers.load_results import write_report_dir


def test_a_report_directory_gives_the_full_percentile_curve(tmp_path):
    run = compare.read_run(write_report_dir(tmp_path / "a"))
    assert run.curve_source == "HDR histogram"
    assert [p for p, _ in run.curve] == [*compare.CURVE_PERCENTILES, 100.0]
    values = [ms for _, ms in run.curve]
    assert values == sorted(values)  # a percentile curve never falls
    assert values[-1] == run.summary["max_ms"]


def test_without_the_histogram_the_curve_runs_through_the_summary_percentiles(tmp_path):
    directory = write_report_dir(tmp_path / "b", keep_histogram=False)
    run = compare.read_run(directory / "summary.json")
    assert run.curve_source == "summary percentiles"
    assert run.curve == [(p, run.summary[f"{name}_ms"]) for name, p in compare.SUMMARY_PERCENTILES] + [
        (100.0, run.summary["max_ms"])
    ]


def test_the_comparison_names_both_runs_and_each_delta(tmp_path):
    baseline = compare.read_run(write_report_dir(tmp_path / "before"))
    current = compare.read_run(write_report_dir(tmp_path / "after", keep_histogram=False, slower_by=2.0))
    document = compare.comparison(baseline, current)
    assert (document["baseline"]["label"], document["current"]["label"]) == ("before", "after")
    p99 = next(d for d in document["deltas"] if d["metric"] == "p99")
    assert p99["current"] == pytest.approx(2 * p99["baseline"])
    assert p99["relative_change"] == pytest.approx(1.0, abs=1e-3)
    assert p99["verdict"] == "worse"
    json.dumps(document)  # serializable as is


def test_the_html_page_overlays_both_curves_and_tables_the_figures(tmp_path):
    baseline = compare.read_run(write_report_dir(tmp_path / "before"))
    current = compare.read_run(write_report_dir(tmp_path / "after", slower_by=2.0))
    page = compare.render(baseline, current)
    assert (
        page.startswith("<!doctype html>")
        and "<script" not in page
        and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    )
    assert len(re.findall(r"<polyline ", page)) == 2
    assert "before" in page and "after" in page
    assert page.count('<tr class="worse">') >= 4  # p50, p95, p99 and max doubled


def test_the_terminal_table_fits_80_columns(tmp_path):
    baseline = compare.read_run(write_report_dir(tmp_path / "before"))
    current = compare.read_run(write_report_dir(tmp_path / "after", slower_by=1.5))
    console = Console(width=80, record=True, color_system=None)
    console.print(compare.delta_table(compare.deltas(current.summary, baseline.summary), "before", "after"))
    lines = console.export_text().splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    assert any(line.startswith("p99") and "+" in line for line in lines)
