"""The CDC pattern's part of the template: the stream, its mapping, the schedules, least privilege."""

from __future__ import annotations

import json

import pytest

from stack.config import HookstackConfig
from stack.definition.app import hookstack_stack
from stack.definition.render import render_template

KEY_PARAMETER = "/hookstack/dev/partner/api-key"


@pytest.fixture(scope="module")
def resources() -> dict:
    config = HookstackConfig(patterns=["cdc"], partner_url="http://127.0.0.1:9999")
    return render_template(hookstack_stack(config))["Resources"]


def _statements(resources: dict, role: str) -> list[dict]:
    return resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def test_the_source_table_has_a_stream_and_the_mapping_filters_inserts_with_bounded_retries(resources):
    assert resources["CdcSourceTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    mapping = resources["CdcCaptureMapping"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["CdcSourceTable", "StreamArn"]}
    assert [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]] == [{"eventName": ["INSERT"]}]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 <= mapping["MaximumRetryAttempts"] <= 10 and mapping["MaximumRecordAgeInSeconds"] >= 60
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["CdcCaptureFailuresQueue", "Arn"]
    }
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_schedule_is_a_rule_on_the_trickle_with_its_own_permission(resources):
    rules = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Events::Rule"}
    expressions = sorted(rule["ScheduleExpression"] for rule in rules.values())
    assert any(e.startswith("rate(") for e in expressions) and sum(e.startswith("cron(") for e in expressions) >= 2
    for logical_id, rule in rules.items():
        assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": ["CdcTrickleFunction", "Arn"]}
        permission = resources[f"{logical_id}Permission"]["Properties"]
        assert permission["Principal"] == "events.amazonaws.com"
        assert permission["SourceArn"] == {"Fn::GetAtt": [logical_id, "Arn"]}


def test_the_trickle_reads_exactly_the_api_key_parameter_and_runs_one_at_a_time(resources):
    statements = _statements(resources, "CdcTrickleFunctionRole")
    ssm = [s for s in statements if any(a.startswith("ssm:") for a in s["Action"])]
    assert [s["Action"] for s in ssm] == [["ssm:GetParameter"]]
    assert ssm[0]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + KEY_PARAMETER}
    ]
    assert not any(a.startswith("kms:") for s in statements for a in s["Action"])
    queue = next(s for s in statements if s["Resource"] == [{"Fn::GetAtt": ["CdcQueue", "Arn"]}])
    assert queue["Action"] == ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"]
    trickle = resources["CdcTrickleFunction"]["Properties"]
    assert trickle["ReservedConcurrentExecutions"] == 1
    assert trickle["Environment"]["Variables"]["PARTNER_URL"] == "http://127.0.0.1:9999"


def test_the_capture_reads_the_stream_only_and_sends_to_its_queues(resources):
    statements = _statements(resources, "CdcCaptureFunctionRole")
    stream = next(s for s in statements if any(a.startswith("dynamodb:") for a in s["Action"]))
    assert stream["Resource"] == [{"Fn::GetAtt": ["CdcSourceTable", "StreamArn"]}]
    assert "dynamodb:PutItem" not in stream["Action"]
    sends = [s["Resource"][0]["Fn::GetAtt"][0] for s in statements if s["Action"] == ["sqs:SendMessage"]]
    assert sorted(sends) == ["CdcCaptureFailuresQueue", "CdcQueue"]


def test_a_bad_schedule_expression_or_name_is_refused():
    with pytest.raises(ValueError, match="not rate"):
        HookstackConfig(cdc_trickle_schedules={"steady": "every minute"})
    with pytest.raises(ValueError, match="schedule name"):
        HookstackConfig(cdc_trickle_schedules={"Not Ok": "rate(1 minute)"})


def test_the_default_stage_has_no_cdc_resources():
    default = render_template(hookstack_stack(HookstackConfig()))["Resources"]
    assert not [k for k in default if k.startswith("Cdc")]
    assert not [v for v in default.values() if v["Type"] == "AWS::Events::Rule"]
