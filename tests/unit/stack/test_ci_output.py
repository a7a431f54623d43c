"""Gates and drill verdicts as CI reads them: JUnit XML valid under a Surefire-shaped schema, and
GitHub Actions annotations for what failed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import xmlschema

from chaos.cli import drill_cases
from chaos.runner import DrillResult
from loadtests.model.gates import against_baseline, evaluate, parse_gates
from loadtests.report.ci import gate_cases, report_gates
from stack.ci import CheckCase, error_annotation, junit_xml

# The elements and attributes of Maven Surefire's test report (surefire-test-report.xsd), with the
# `testsuites` wrapper CI servers read around one or more suites.
JUNIT_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:simpleType name="SUREFIRE_TIME">
    <xs:restriction base="xs:string">
      <xs:pattern value="(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\\.[0-9]{0,3})?"/>
    </xs:restriction>
  </xs:simpleType>
  <xs:complexType name="problem">
    <xs:simpleContent>
      <xs:extension base="xs:string">
        <xs:attribute name="message" type="xs:string"/>
        <xs:attribute name="type" type="xs:string" use="required"/>
      </xs:extension>
    </xs:simpleContent>
  </xs:complexType>
  <xs:element name="testsuite">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="testcase" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:choice minOccurs="0" maxOccurs="unbounded">
              <xs:element name="failure" type="problem"/>
              <xs:element name="error" type="problem"/>
              <xs:element name="skipped">
                <xs:complexType>
                  <xs:simpleContent>
                    <xs:extension base="xs:string">
                      <xs:attribute name="message" type="xs:string"/>
                    </xs:extension>
                  </xs:simpleContent>
                </xs:complexType>
              </xs:element>
              <xs:element name="system-out" type="xs:string"/>
              <xs:element name="system-err" type="xs:string"/>
            </xs:choice>
            <xs:attribute name="name" type="xs:string" use="required"/>
            <xs:attribute name="classname" type="xs:string"/>
            <xs:attribute name="group" type="xs:string"/>
            <xs:attribute name="time" type="SUREFIRE_TIME"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="time" type="SUREFIRE_TIME"/>
      <xs:attribute name="tests" type="xs:string" use="required"/>
      <xs:attribute name="errors" type="xs:string" use="required"/>
      <xs:attribute name="skipped" type="xs:string" use="required"/>
      <xs:attribute name="failures" type="xs:string" use="required"/>
      <xs:attribute name="group" type="xs:string"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string"/>
      <xs:attribute name="time" type="SUREFIRE_TIME"/>
      <xs:attribute name="tests" type="xs:string"/>
      <xs:attribute name="failures" type="xs:string"/>
      <xs:attribute name="errors" type="xs:string"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""
SUMMARY = {"scenario": "steady", "p99_ms": 312.5, "error_rate": 0.0004, "achieved_rps": 99.0, "missing": 0}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(JUNIT_XSD)


def gate_results(texts: list[str], baseline: dict | None = None):
    return evaluate(against_baseline(parse_gates(texts), baseline), SUMMARY)


def test_the_schema_refuses_what_surefire_does_not_write(schema):
    assert not schema.is_valid("<testsuite name='x' tests='1'><testcase/></testsuite>")
    assert not schema.is_valid(
        "<testsuite name='x' tests='1' errors='0' skipped='0' failures='1'>"
        "<testcase name='a'><failure message='m'/></testcase></testsuite>"  # a failure without its type
    )


def test_load_gates_are_one_testcase_each_and_valid_junit(schema):
    results = gate_results(["p99<250ms", "errors<0.1%", "p99<+10%"], baseline={**SUMMARY, "p99_ms": 300.0})
    document = junit_xml("hookstack load steady", gate_cases(results), classname="hookstack.load")
    schema.validate(document)
    suite = ET.fromstring(document).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["p99<250ms", "errors<0.1%", "p99<+10%"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == "measured p99 = 312.5 ms"
    assert cases[1].find("failure") is None
    assert cases[2].find("failure") is None  # 312.5 ms is within 10 % of 300 ms
    assert cases[2].findtext("system-out") == "measured p99 = 312.5 ms; baseline 300.0 ms, limit 330.0 ms"


def test_a_relative_gate_that_fails_names_the_baseline_and_the_limit(schema):
    (result,) = gate_results(["p99<+2%"], baseline={**SUMMARY, "p99_ms": 300.0})
    (case,) = gate_cases([result])
    assert not case.passed
    assert case.message == "measured p99 = 312.5 ms; baseline 300.0 ms, limit 306.0 ms"
    schema.validate(junit_xml("s", [case], classname="hookstack.load"))


def test_a_junit_file_is_written_and_annotations_only_under_github_actions(tmp_path, schema):
    results = gate_results(["p99<250ms", "missing==0"])
    path = tmp_path / "out" / "report.xml"
    assert report_gates(results, scenario="steady", junit=path, environ={}) == []
    schema.validate(path.read_text())
    annotations = report_gates(results, scenario="steady", junit=None, environ={"GITHUB_ACTIONS": "true"})
    assert annotations == ["::error title=load gate p99<250ms::measured p99 = 312.5 ms"]


def test_annotations_escape_what_the_runner_would_read_as_syntax():
    line = error_annotation("drill a,b: c", "50% lost\nsecond line")
    assert line == "::error title=drill a%2Cb%3A c::50%25 lost%0Asecond line"
    assert "\n" not in line


def drill(name: str, verdict: str, failures: list[str]) -> DrillResult:
    return DrillResult(
        drill=name, summary="", verdict=verdict, run_id="r", target="embedded", stage="dev", settings={},
        timings={}, started_at=0.0, duration_s=12.25, counts={}, checks=[], before_fix=None, after_replay=None,
        replay_errors=[], error=None, timeline={}, failures=failures,
    )  # fmt: skip


def test_chaos_drills_are_one_testcase_each_and_valid_junit(schema):
    results = [drill("poison-message", "PASS", []), drill("worker-crash", "FAIL", ["missing: 2", "dup: 1"])]
    cases = drill_cases(results, refused=("slow-downstream", "the stage is not clean"))
    document = junit_xml("hookstack chaos all", cases, classname="hookstack.chaos")
    schema.validate(document)
    suite = ET.fromstring(document).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "2")
    crash = suite.findall("testcase")[1]
    failure = crash.find("failure")
    assert crash.get("time") == "12.250"
    assert failure is not None and failure.get("message") == "FAIL in 12.2s: missing: 2"
    assert failure.text == "missing: 2\ndup: 1"
    refused = suite.findall("testcase")[2].find("failure")
    assert refused is not None and refused.get("message") == "not run: the stage is not clean"


def test_an_empty_run_is_still_a_valid_document(schema):
    schema.validate(junit_xml("nothing", [], classname="hookstack.load"))
    schema.validate(junit_xml("one", [CheckCase("p99<1ms", True, "measured p99 = 0.5 ms")], classname="x"))
