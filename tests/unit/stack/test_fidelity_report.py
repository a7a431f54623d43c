"""The fidelity key and section of load and drill reports: from the one divergence catalogue."""

from __future__ import annotations

import pytest

from chaos.runner import DRILL_AREAS
from loadtests.cli import LOAD_AREAS
from stack.fidelity.divergences import CATALOGUE, divergences_bearing_on, fidelity_report
from stack.fidelity.report_section import fidelity_section_html


def test_an_embedded_report_names_exactly_the_divergences_bearing_on_what_it_measured():
    report = fidelity_report("embedded", LOAD_AREAS)
    ids = [d["id"] for d in report["divergences"]]
    assert ids == [d.id for d in divergences_bearing_on(LOAD_AREAS)]
    assert "emulator-capacity" in ids and "sqs-fifo-throughput-unlimited" in ids
    drill = {d["id"] for d in fidelity_report("embedded", DRILL_AREAS)["divergences"]}
    assert "apigw-live-configuration" not in drill  # an authorizer divergence: no drill rests on it
    assert len(ids) < len(CATALOGUE) or len(drill) < len(CATALOGUE)


def test_other_targets_say_what_they_are_instead():
    assert fidelity_report("aws", LOAD_AREAS)["divergences"] == []
    assert "AWS itself" in fidelity_report("aws", LOAD_AREAS)["note"]
    assert "not catalogued" in fidelity_report("localstack", LOAD_AREAS)["note"]
    with pytest.raises(ValueError, match="unknown areas"):
        fidelity_report("embedded", {"nope"})


def test_the_html_section_lists_them_escaped():
    html = fidelity_section_html(fidelity_report("embedded", LOAD_AREAS))
    assert html.startswith("<h2>Fidelity (embedded)</h2>") and "<code>emulator-capacity</code>" in html
    escaped = fidelity_section_html(
        {"target": "embedded", "note": "n", "divergences": [{"id": "<x>", "differs": "a & b", "not_fixed": "c"}]}
    )
    assert "&lt;x&gt;" in escaped and "a &amp; b" in escaped
    assert fidelity_section_html(None) == ""
