"""The fidelity key and section of load and drill reports: from the one divergence catalogue."""

from __future__ import annotations

import pytest

from chaos.runner import DRILL_AREAS
from loadtests.cli import LOAD_AREAS
from stack.embedded.interpreters import FunctionsPython
from stack.fidelity.divergences import (
    CATALOGUE,
    DECLARED_INTERPRETER,
    HOST_INTERPRETER,
    divergences_bearing_on,
    fidelity_report,
)
from stack.fidelity.report_section import fidelity_section_html


def test_an_embedded_report_names_exactly_the_divergences_bearing_on_what_it_measured():
    report = fidelity_report("embedded", LOAD_AREAS)
    ids = [d["id"] for d in report["divergences"]]
    assert ids == [d.id for d in divergences_bearing_on(LOAD_AREAS, HOST_INTERPRETER)]  # not recorded: the host
    assert "emulator-capacity" in ids and "sqs-fifo-throughput-unlimited" in ids
    drill = {d["id"] for d in fidelity_report("embedded", DRILL_AREAS)["divergences"]}
    assert "apigw-live-configuration" not in drill  # an authorizer divergence: no drill rests on it
    assert len(ids) < len(CATALOGUE) or len(drill) < len(CATALOGUE)


DECLARED = FunctionsPython(runtime="python3.12", version="3.12.1", executable="/opt/python3.12", declared=True)
HOST = FunctionsPython(
    runtime="python3.12", version="3.11.7", executable="/venv/python", declared=False, reason="no python3.12"
)


def test_the_divergences_follow_the_interpreter_that_ran_the_functions():
    declared = fidelity_report("embedded", LOAD_AREAS, DECLARED)
    host = fidelity_report("embedded", DRILL_AREAS, HOST)
    declared_ids = [d["id"] for d in declared["divergences"]]
    host_ids = [d["id"] for d in host["divergences"]]
    assert "lambda-local-runtime-build" in declared_ids and "lambda-host-interpreter" not in declared_ids
    assert "lambda-host-interpreter" in host_ids and "lambda-local-runtime-build" not in host_ids
    assert declared_ids == [d.id for d in divergences_bearing_on(LOAD_AREAS, DECLARED_INTERPRETER)]
    # Every report says which interpreter ran them, and why the host's when it stood in.
    assert (
        declared["functions_python"]["version"] == "3.12.1"
        and "the declared python3.12" in (declared["functions_python"]["line"])
    )
    assert host["functions_python"]["declared"] is False and "no python3.12" in host["functions_python"]["line"]
    html = fidelity_section_html(host)
    assert "host interpreter, Python 3.11.7" in html and "<code>lambda-host-interpreter</code>" in html


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
