"""A Python function raising its own exception is reported with that exception's class name as
errorType (with errorMessage and stackTrace), as Lambda reports it: through hookstack's execution
environments (the gateway's and the event plane's) and through the emulator's own executor."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from stack.embedded.emulator import MiniStackProcess
from stack.embedded.event_plane.process import launch
from stack.embedded.gateway.definition import FunctionSpec
from stack.embedded.gateway.environment import LaunchSettings, prepare_runtime_libs
from stack.embedded.gateway.pool import FunctionPool

pytestmark = pytest.mark.integration

REGION = "us-east-1"
SOURCE = """
class PaymentDeclined(Exception):
    pass


def handler(event, context):
    raise PaymentDeclined("card declined")
"""
WAIT_S = 60.0


@pytest.fixture(scope="module")
def ministack() -> Iterator[str]:
    with MiniStackProcess(patched=True) as process:
        yield process.endpoint_url


def _client(endpoint_url: str, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint_url, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )


def test_gateway_environment_names_the_exception_class(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(SOURCE)
    function = FunctionSpec(
        name="declines",
        arn=f"arn:aws:lambda:{REGION}:000000000000:function:declines",
        handler="index.handler",
        runtime="python3.12",
        timeout_s=10.0,
        memory_mb=128,
        environment={},
        reserved_concurrency=None,
        code_dir=code,
        code_sha256="",
    )
    state = tmp_path / "state"
    settings = LaunchSettings("http://127.0.0.1:9", REGION, state, prepare_runtime_libs(state))
    log = tmp_path / "declines.log"

    async def invoke() -> Any:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        pool = FunctionPool(function, settings, fd)
        try:
            return await pool.submit(uuid.uuid4().hex, b"{}").future
        finally:
            await pool.close()
            os.close(fd)

    result = asyncio.run(invoke())
    assert not result.ok
    assert result.error["errorType"] == "PaymentDeclined"
    assert result.error["errorMessage"] == "card declined"
    assert any("in handler" in frame for frame in result.error["stackTrace"])
    assert "[ERROR] PaymentDeclined: card declined" in log.read_text()


def test_emulator_executor_names_the_exception_class(ministack: str) -> None:
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("index.py", SOURCE)
    lam = _client(ministack, "lambda")
    name = f"declines-{uuid.uuid4().hex[:8]}"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="index.handler",
        Role="arn:aws:iam::000000000000:role/declines",
        Code={"ZipFile": archive.getvalue()},
    )
    response = lam.invoke(FunctionName=name, Payload=b"{}")
    payload = json.loads(response["Payload"].read())
    assert response.get("FunctionError") == "Unhandled"
    assert payload["errorType"] == "PaymentDeclined"
    assert payload["errorMessage"] == "card declined"
    assert payload["stackTrace"] and "in handler" in payload["stackTrace"][0]


def _template(name: str) -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-dlq.fifo", "FifoQueue": True}},
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": f"{name}-queue.fifo",
                    "FifoQueue": True,
                    "VisibilityTimeout": 5,
                    "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 1},
                },
            },
            "Declines": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": f"{name}-declines",
                    "Runtime": "python3.12",
                    "Handler": "index.handler",
                    "Role": "arn:aws:iam::000000000000:role/declines",
                    "Timeout": 5,
                    "Code": {"ZipFile": SOURCE},
                },
            },
            "Mapping": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                    "FunctionName": {"Ref": "Declines"},
                    "BatchSize": 1,
                },
            },
        },
        "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
    }


def test_event_plane_reports_the_exception_class(ministack: str, tmp_path: Path) -> None:
    name = f"le{uuid.uuid4().hex[:8]}"
    cloudformation = _client(ministack, "cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(_template(name)))
    deadline = time.monotonic() + WAIT_S
    while True:
        described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if described["StackStatus"].endswith(("_COMPLETE", "_FAILED")) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
    queue_url = next(o["OutputValue"] for o in described["Outputs"] if o["OutputKey"] == "QueueUrl")
    plane = launch(ministack, name, tmp_path / "logs", tmp_path / "state")
    try:
        _client(ministack, "sqs").send_message(
            QueueUrl=queue_url, MessageBody="{}", MessageGroupId="g1", MessageDeduplicationId="d1"
        )
        wanted = "function error: PaymentDeclined: card declined"
        deadline = time.monotonic() + WAIT_S
        while wanted not in plane.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.25)
        assert wanted in plane.log_path.read_text()
        function_logs = "".join(p.read_text() for p in (tmp_path / "logs").rglob("*") if p.is_file())
        assert "[ERROR] PaymentDeclined: card declined" in function_logs
    finally:
        plane.stop()
    assert not plane.alive()
