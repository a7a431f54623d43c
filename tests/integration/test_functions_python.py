"""Functions run on their declared runtime's interpreter where it is installed (python3.12 here):
through hookstack's gateway, through its event plane and through MiniStack's own executor, each
isolated from what is installed beside it. Skipped, with the reason, where no python3.12 runs."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.clients.webhook_client import ApiClient
from stack.config import HookstackConfig
from stack.deploy.outputs import StackOutputs, tenant_token
from stack.embedded import gateway as embedded_gateway
from stack.embedded.gateway.process import read_stats
from stack.embedded.interpreters import FunctionsPython, resolve
from tests.helpers.private_stage import private_stage

pytestmark = pytest.mark.integration

RUNTIME = "python3.12"
PROBE_STACK = "hookstack-python-probe"
PROBE_STAGE = "probe"

# What each path reports: the interpreter running it, and whether the host's packages leak in.
PROBE_SOURCE = """
import json, os, sys

import boto3


def facts():
    try:
        import pydantic  # in the host's site-packages, never in this zip
        isolated = False
    except ImportError:
        isolated = True
    return {"version": list(sys.version_info[:3]), "executable": sys.executable, "isolated": isolated}


def handler(event, context):
    if isinstance(event, dict) and "Records" in event:
        sqs = boto3.client("sqs")
        for record in event["Records"]:
            sqs.send_message(QueueUrl=os.environ["RESULTS_QUEUE_URL"], MessageBody=json.dumps(facts()))
        return {}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(facts())}
"""


def _probe_template() -> dict:
    api_uri = {"Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Probe.Arn}/invocations"}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "ProbeQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "python-probe"}},
            "ResultsQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "python-probe-results"}},
            "Probe": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "python-probe",
                    "Runtime": RUNTIME,
                    "Handler": "index.handler",
                    "Role": "arn:aws:iam::000000000000:role/python-probe",
                    "Timeout": 30,
                    "Code": {"ZipFile": PROBE_SOURCE},
                    "Environment": {"Variables": {"RESULTS_QUEUE_URL": {"Ref": "ResultsQueue"}}},
                },
            },
            "ProbeMapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": ["ProbeQueue", "Arn"]},
                    "FunctionName": {"Ref": "Probe"},
                    "BatchSize": 1,
                },
            },
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "python-probe"}},
            "ProbeResource": {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "PathPart": "probe",
                },
            },
            "ProbeMethod": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ResourceId": {"Ref": "ProbeResource"},
                    "HttpMethod": "GET",
                    "AuthorizationType": "NONE",
                    "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": api_uri},
                },
            },
            "Deployment": {
                "Type": "AWS::ApiGateway::Deployment",
                "DependsOn": ["ProbeMethod"],
                "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": PROBE_STAGE},
            },
        },
        "Outputs": {
            "ApiId": {"Value": {"Ref": "Api"}},
            "ProbeQueueUrl": {"Value": {"Ref": "ProbeQueue"}},
            "ResultsQueueUrl": {"Value": {"Ref": "ResultsQueue"}},
        },
    }


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StackOutputs, Path]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv("HOOKSTACK_FUNCTIONS_PYTHON", raising=False)
        if not (found := resolve(RUNTIME)).declared:
            pytest.skip(f"no working {RUNTIME} on this machine: {found.reason}")
        with private_stage(tmp_path_factory, HookstackConfig(stage="py312", runtime=RUNTIME)) as (outputs, home):
            yield outputs, home


@pytest.fixture(scope="module")
def probe(stage: tuple[StackOutputs, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A small stack of its own in the stage's emulator, served by a hookstack gateway and event
    plane running the stage's interpreter."""
    outputs, _ = stage
    assert outputs.functions_python is not None and outputs.functions_python.runtime_python is not None
    cfn = outputs.client("cloudformation")
    cfn.create_stack(StackName=PROBE_STACK, TemplateBody=json.dumps(_probe_template()))
    cfn.get_waiter("stack_create_complete").wait(StackName=PROBE_STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    stack = cfn.describe_stacks(StackName=PROBE_STACK)["Stacks"][0]
    outs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    state = tmp_path_factory.mktemp("probe-gateway")
    served = embedded_gateway.launch(
        outputs.endpoint_url or "",
        outs["ApiId"],
        PROBE_STAGE,
        state / "logs",
        state / "state",
        stack_name=PROBE_STACK,
        region=outputs.region,
        exit_with_parent=True,
        python=outputs.functions_python.runtime_python,
    )
    try:
        yield {**outs, "url": served.url}
    finally:
        served.stop()


def _is_declared_python(facts: dict, functions_python: FunctionsPython) -> None:
    assert facts["version"][:2] == [3, 12], facts
    assert ".".join(map(str, facts["version"])) == functions_python.version
    assert facts["executable"] == functions_python.runtime_python  # the runtime directory's binary
    assert facts["isolated"], f"the host's packages are importable there: {facts}"


def test_the_stage_records_and_builds_for_the_declared_interpreter(stage):
    outputs, _ = stage
    python = outputs.functions_python
    assert python is not None and python.declared and python.minor == "3.12", python
    keys = [o["Key"] for o in outputs.client("s3").list_objects_v2(Bucket=outputs.artifacts_bucket).get("Contents", [])]
    assert any("handlers-local-py3.12-" in key for key in keys), keys  # the zip built for it, not the host's


def test_through_the_gateway(stage, probe):
    with urllib.request.urlopen(f"{probe['url']}/probe", timeout=60) as response:
        assert response.status == 200
        facts = json.loads(response.read())
    _is_declared_python(facts, stage[0].functions_python)


def test_through_the_event_plane(stage, probe):
    sqs = stage[0].client("sqs")
    sqs.send_message(QueueUrl=probe["ProbeQueueUrl"], MessageBody="which python?")
    deadline = time.monotonic() + 90
    messages: list = []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=probe["ResultsQueueUrl"], WaitTimeSeconds=5).get("Messages", [])
    assert messages, "the event plane did not run the probe within 90 s"
    _is_declared_python(json.loads(messages[0]["Body"]), stage[0].functions_python)


def test_through_ministacks_executor(stage, probe):
    answer = stage[0].client("lambda").invoke(FunctionName="python-probe", Payload=b"{}")
    body = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, body
    _is_declared_python(json.loads(body["body"]), stage[0].functions_python)


def test_the_stage_s_own_environments_run_it(stage):
    outputs, _ = stage
    client = ApiClient(outputs.api_url, tenant_token(outputs))
    try:  # the authorizer and the status function each start an environment to answer it
        assert client.event_status("evt_" + "0" * 32).status == 404
    finally:
        client.close()
    stats = read_stats(outputs.api_url)
    pids = [pid for pool in stats["functions"].values() for pid in pool["environment_pids"]]
    assert pids, stats["functions"]
    runtime_python = outputs.functions_python.runtime_python if outputs.functions_python else None
    for pid in pids:
        assert os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(runtime_python or "-"), pid
