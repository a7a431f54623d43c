"""The daily tools through the command line: comparing runs, relative gates, CI output options."""

from __future__ import annotations

import json

from tests.helpers.load_results import write_report_dir
from tests.unit.stack.test_cli_errors import assert_one_line_error, hookstack


def test_a_relative_gate_without_a_baseline_is_a_usage_error(isolated_home):
    result = hookstack("load", "--gate", "p99<+10%")
    assert result.returncode == 2
    assert_one_line_error(result, "p99<+10%", "--baseline")


def test_a_baseline_that_is_not_a_run_is_a_usage_error(isolated_home, tmp_path):
    result = hookstack("load", "--baseline", str(tmp_path / "nowhere" / "summary.json"), "--gate", "p99<+10%")
    assert result.returncode == 2
    assert_one_line_error(result, "no such file")


def test_a_relative_gate_on_a_figure_the_baseline_lacks_is_refused_before_the_run(isolated_home, tmp_path):
    run = write_report_dir(tmp_path / "before")  # no drain measured: no end-to-end figures
    result = hookstack("load", "--baseline", str(run), "--gate", "e2e_p99<+10%")
    assert result.returncode == 2
    assert_one_line_error(result, "did not measure e2e_p99")


def test_report_compare_prints_the_deltas_and_writes_the_page(isolated_home, tmp_path):
    before = write_report_dir(tmp_path / "before")
    after = write_report_dir(tmp_path / "after", slower_by=2.0)
    page = tmp_path / "compare.html"
    result = hookstack("report", "compare", str(before), str(after / "summary.json"), "--out", str(page))
    assert result.returncode == 0, result.stderr
    assert "after against before" in result.stdout
    assert any(line.startswith("p99") and "(+100.0 %)" in line for line in result.stdout.splitlines())
    assert page.read_text().count("<polyline ") == 2


def test_report_compare_json(isolated_home, tmp_path):
    before, after = write_report_dir(tmp_path / "before"), write_report_dir(tmp_path / "after", slower_by=0.5)
    result = hookstack("report", "compare", str(before), str(after), "--json", "--out", str(tmp_path / "c.html"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    p99 = next(d for d in document["deltas"] if d["metric"] == "p99")
    assert p99["verdict"] == "better"
    assert document["html"] == str(tmp_path / "c.html")


def test_report_compare_refuses_a_file_that_is_not_a_run(isolated_home, tmp_path):
    before = write_report_dir(tmp_path / "before")
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}')
    result = hookstack("report", "compare", str(before), str(other))
    assert result.returncode == 2
    assert_one_line_error(result, "not the summary of a `hookstack load` run")


def test_the_ci_options_are_on_load_and_on_drills(isolated_home):
    load_help = hookstack("load", "--help").stdout
    assert "--junit" in load_help and "--baseline" in load_help
    assert "--junit" in hookstack("chaos", "run", "--help").stdout
