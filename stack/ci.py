"""Checks in the forms CI systems read: JUnit XML (one testcase per check, as Surefire writes it)
and GitHub Actions workflow annotations (``::error title=…::…``, shown on the run's summary page).

Used by the load gates and the chaos drills; neither format needs a library.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GITHUB_ACTIONS_VARIABLE = "GITHUB_ACTIONS"


@dataclass(frozen=True)
class CheckCase:
    """One check of a run: a load gate, a chaos drill."""

    name: str
    passed: bool
    message: str  # one line: what was measured (for a failure, the failure element's message)
    detail: str = ""  # more lines for a failure's body
    seconds: float = 0.0


def junit_xml(suite: str, cases: Sequence[CheckCase], *, classname: str) -> str:
    """A ``testsuites`` document holding one ``testsuite`` of ``cases`` (the attributes Surefire's
    schema knows, and no others: a strict reader refuses the rest)."""
    failures = sum(1 for case in cases if not case.passed)
    total_seconds = sum(case.seconds for case in cases)
    root = ET.Element("testsuites", name=suite, tests=str(len(cases)), failures=str(failures), errors="0")
    root.set("time", f"{total_seconds:.3f}")
    testsuite = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{total_seconds:.3f}",
    )
    for case in cases:
        testcase = ET.SubElement(testsuite, "testcase", name=case.name, classname=classname, time=f"{case.seconds:.3f}")
        if case.passed:
            ET.SubElement(testcase, "system-out").text = case.message
        else:
            failure = ET.SubElement(testcase, "failure", message=case.message, type="CheckFailed")
            failure.text = case.detail or case.message
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, suite: str, cases: Sequence[CheckCase], *, classname: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(suite, cases, classname=classname), encoding="utf-8")


def under_github_actions(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(GITHUB_ACTIONS_VARIABLE) == "true"


def _escape_data(text: str) -> str:
    # The runner's escaping of a workflow command's message.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def error_annotation(title: str, message: str) -> str:
    """One ``::error`` workflow command: GitHub Actions shows it as an annotation of the run."""
    return f"::error title={_escape_property(title)}::{_escape_data(message)}"


def failure_annotations(cases: Sequence[CheckCase], title_prefix: str) -> list[str]:
    return [error_annotation(f"{title_prefix} {case.name}", case.message) for case in cases if not case.passed]
