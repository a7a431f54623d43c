"""The fidelity run's own small stack, deployed through CloudFormation on the target under test.

The authorizer, API-limit and event-source-mapping behaviours must be checked on the path a
deployed stack is served by. On the embedded target that is hookstack's gateway and event plane,
which read the deployed CloudFormation stack: scratch resources made with boto3 would be served
by the emulator's own API path and poller instead. So the suite deploys this template (a REST API
with a REQUEST authorizer, a slow route, a throttled stage route, and a FIFO queue mapped to a
function that records its batches), serves it as ``hookstack up`` serves a stage (on embedded:
``stack.embedded.gateway.launch`` with the stack's name, which starts the event plane too), checks
it over HTTP and boto3, and deletes it. Once per run, shared by the checks that need it.

Limits set short so the run stays short: the authorizer TTL (30 s), the integration timeout
(1 s, AWS's minimum is 50 ms), the stage throttle (1 request/s, burst 1), the queue's visibility
timeout (6 s: the redelivery wait). The 10 MB payload quota cannot be lowered, so its check sends
10 MB and one byte.
"""

from __future__ import annotations

import http.client
import json
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from stack.deploy.cloudformation import ensure_stack
from stack.errors import HookstackError

if TYPE_CHECKING:
    from stack.fidelity.probe import Probe

STAGE_NAME = "fidelity"
IDENTITY_HEADER = "X-Fidelity-Token"
AUTHORIZER_TTL_S = 30
INTEGRATION_TIMEOUT_MS = 1000
SLOW_FUNCTION_SLEEP_S = 3  # past the integration timeout, within the function's own timeout
THROTTLE_RATE = 1.0
THROTTLE_BURST = 1
BATCH_SIZE = 3
MAXIMUM_CONCURRENCY = 4
# The redelivery wait of the failure checks. Lambda requires it >= the mapped function's timeout; twice
# that leaves room for a cold start on a busy machine, which would otherwise let a batch outlive it.
VISIBILITY_TIMEOUT_S = 6
RECORDER_TIMEOUT_S = 3
BATCH_HOLD_S = 0.5  # each batch stays in flight this long, so overlapping batches would show
DELETE_TIMEOUT_S = 60
HTTP_TIMEOUT_S = 15.0

# Each token kind the authorizer understands; a request without the header never reaches it on AWS.
AUTHORIZER_SOURCE = """
import uuid


def handler(event, context):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    token = headers.get("x-fidelity-token") or ""
    arn = event["methodArn"].split("/")[0] + "/*"
    # A call without the identity header answers Allow: a target that calls the authorizer anyway
    # lets the request through, which the check sees.
    effect = "Deny" if token.startswith("deny-") else "Allow"
    return {
        "principalId": "fidelity",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": arn}],
        },
        "context": {"callId": uuid.uuid4().hex, "token": token or "(none)"},
    }
"""

ECHO_SOURCE = """
import json


def handler(event, context):
    if (event.get("queryStringParameters") or {}).get("raise"):
        raise RuntimeError("asked to raise")
    context_seen = (event.get("requestContext") or {}).get("authorizer")
    return {"statusCode": 200, "body": json.dumps({"authorizer": context_seen})}
"""

SLOW_SOURCE = f"""
import time


def handler(event, context):
    time.sleep({SLOW_FUNCTION_SLEEP_S})
    return {{"statusCode": 200, "body": "late"}}
"""

# Records every batch it gets on the log queue, then fails what the message bodies ask for:
# "fail-once" is reported in batchItemFailures on its first receive, with every later record of
# its group in the batch (what the Lambda docs ask of a FIFO function); "crash-once" raises.
RECORDER_SOURCE = f"""
import json
import os
import time

import boto3

sqs = boto3.client("sqs")


def handler(event, context):
    started = time.time()
    time.sleep({BATCH_HOLD_S})
    failures, failed_groups, crash, seen = [], set(), False, []
    for record in event["Records"]:
        attributes = record.get("attributes") or {{}}
        group = attributes.get("MessageGroupId")
        first = attributes.get("ApproximateReceiveCount") == "1"
        seen.append({{"id": record["messageId"], "body": record["body"], "group": group,
                      "receive_count": int(attributes.get("ApproximateReceiveCount") or 0)}})
        if group in failed_groups or (first and "fail-once" in record["body"]):
            failures.append(record["messageId"])
            failed_groups.add(group)
        if first and "crash-once" in record["body"]:
            crash = True
    entry = {{"started": started, "ended": time.time(), "records": seen, "failed": failures, "crashed": crash}}
    sqs.send_message(QueueUrl=os.environ["LOG_QUEUE_URL"], MessageBody=json.dumps(entry))
    if crash:
        raise RuntimeError("crash-once")
    return {{"batchItemFailures": [{{"itemIdentifier": i}} for i in failures]}}
"""


def _function(name: str, source: str, timeout_s: int, role: str, env: dict[str, Any] | None = None) -> dict:
    properties: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Timeout": timeout_s,
        "MemorySize": 128,
        "Role": {"Fn::GetAtt": [role, "Arn"]},
        "Code": {"ZipFile": source},
    }
    if env:
        properties["Environment"] = {"Variables": env}
    return {"Type": "AWS::Lambda::Function", "Properties": properties}


def _invoke_permission(function: str, api: str) -> dict:
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function, "Arn"]},
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {
                "Fn::Sub": f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{api}}}/*"
            },
        },
    }


def _lambda_uri(function: str) -> dict:
    return {
        "Fn::Sub": f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}:lambda:path/2015-03-31/functions/"
        f"${{{function}.Arn}}/invocations"
    }


def _method(
    resource: str, verb: str, function: str, authorizer: str | None = None, timeout_ms: int | None = None
) -> dict:
    integration: dict[str, Any] = {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": _lambda_uri(function)}
    if timeout_ms is not None:
        integration["TimeoutInMillis"] = timeout_ms
    properties: dict[str, Any] = {
        "RestApiId": {"Ref": "Api"},
        "ResourceId": {"Ref": resource},
        "HttpMethod": verb,
        "AuthorizationType": "CUSTOM" if authorizer else "NONE",
        "Integration": integration,
    }
    if authorizer:
        properties["AuthorizerId"] = {"Ref": authorizer}
    return {"Type": "AWS::ApiGateway::Method", "Properties": properties}


def _resource(path_part: str) -> dict:
    return {
        "Type": "AWS::ApiGateway::Resource",
        "Properties": {
            "RestApiId": {"Ref": "Api"},
            "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
            "PathPart": path_part,
        },
    }


def fidelity_template(prefix: str) -> dict[str, Any]:
    """The CloudFormation template of the fidelity stack; every physical name starts with ``prefix``."""
    log_queue_arn = {"Fn::GetAtt": ["LogQueue", "Arn"]}
    batch_queue_arn = {"Fn::GetAtt": ["BatchQueue", "Arn"]}
    methods = {
        "EchoGetMethod": _method("EchoResource", "GET", "EchoFunction", authorizer="RequestAuthorizer"),
        "OpenPostMethod": _method("OpenResource", "POST", "EchoFunction"),
        "OpenGetMethod": _method("OpenResource", "GET", "EchoFunction"),
        "SlowGetMethod": _method("SlowResource", "GET", "SlowFunction", timeout_ms=INTEGRATION_TIMEOUT_MS),
        "ThrottledGetMethod": _method("ThrottledResource", "GET", "EchoFunction"),
    }
    resources: dict[str, Any] = {
        "LogQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{prefix}-log"}},
        "BatchQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": f"{prefix}-batches.fifo",
                "FifoQueue": True,
                "VisibilityTimeout": VISIBILITY_TIMEOUT_S,
            },
        },
        "FunctionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
                ],
                "Policies": [
                    {
                        "PolicyName": "fidelity",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": log_queue_arn},
                                {
                                    "Effect": "Allow",
                                    "Action": [
                                        "sqs:ReceiveMessage",
                                        "sqs:DeleteMessage",
                                        "sqs:GetQueueAttributes",
                                        "sqs:ChangeMessageVisibility",
                                    ],
                                    "Resource": batch_queue_arn,
                                },
                            ],
                        },
                    }
                ],
            },
        },
        "AuthorizerFunction": _function(f"{prefix}-authorizer", AUTHORIZER_SOURCE, 5, "FunctionRole"),
        "EchoFunction": _function(f"{prefix}-echo", ECHO_SOURCE, 5, "FunctionRole"),
        "SlowFunction": _function(f"{prefix}-slow", SLOW_SOURCE, SLOW_FUNCTION_SLEEP_S + 5, "FunctionRole"),
        "RecorderFunction": _function(
            f"{prefix}-recorder",
            RECORDER_SOURCE,
            RECORDER_TIMEOUT_S,
            "FunctionRole",
            {"LOG_QUEUE_URL": {"Ref": "LogQueue"}},
        ),
        "BatchMapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": batch_queue_arn,
                "FunctionName": {"Ref": "RecorderFunction"},
                "BatchSize": BATCH_SIZE,
                "Enabled": True,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": {"MaximumConcurrency": MAXIMUM_CONCURRENCY},
            },
        },
        "Api": {
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {"Name": f"{prefix}-api", "EndpointConfiguration": {"Types": ["REGIONAL"]}},
        },
        "EchoResource": _resource("echo"),
        "OpenResource": _resource("open"),
        "SlowResource": _resource("slow"),
        "ThrottledResource": _resource("throttled"),
        "RequestAuthorizer": {
            "Type": "AWS::ApiGateway::Authorizer",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "Name": f"{prefix}-authorizer",
                "Type": "REQUEST",
                "IdentitySource": f"method.request.header.{IDENTITY_HEADER}",
                "AuthorizerUri": _lambda_uri("AuthorizerFunction"),
                "AuthorizerResultTtlInSeconds": AUTHORIZER_TTL_S,
            },
        },
        **methods,
        "AuthorizerPermission": _invoke_permission("AuthorizerFunction", "Api"),
        "EchoPermission": _invoke_permission("EchoFunction", "Api"),
        "SlowPermission": _invoke_permission("SlowFunction", "Api"),
        "Deployment": {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": sorted(methods),
            "Properties": {"RestApiId": {"Ref": "Api"}},
        },
        "Stage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": {"Ref": "Api"},
                "DeploymentId": {"Ref": "Deployment"},
                "StageName": STAGE_NAME,
                "MethodSettings": [
                    {
                        "ResourcePath": "/throttled",
                        "HttpMethod": "GET",
                        "ThrottlingRateLimit": THROTTLE_RATE,
                        "ThrottlingBurstLimit": THROTTLE_BURST,
                    }
                ],
            },
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "hookstack fidelity run: deleted when the run ends",
        "Resources": resources,
        "Outputs": {
            "ApiId": {"Value": {"Ref": "Api"}},
            "ApiUrl": {
                "Value": {"Fn::Sub": f"https://${{Api}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{STAGE_NAME}"}
            },
            "BatchQueueUrl": {"Value": {"Ref": "BatchQueue"}},
            "LogQueueUrl": {"Value": {"Ref": "LogQueue"}},
        },
    }


# ── HTTP ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def http_request(
    url: str, method: str = "GET", headers: Mapping[str, str] | None = None, body: bytes | None = None
) -> HttpAnswer:
    """One request on a fresh connection, bounded by ``HTTP_TIMEOUT_S``. A server that answers
    before it has read a large body (413) may reset the rest of the upload: the answer is still read."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.netloc, timeout=HTTP_TIMEOUT_S)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            connection.request(method, target, body=body, headers=dict(headers or {}))
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed while the body was still going out
        response = connection.getresponse()
        return HttpAnswer(response.status, response.read(), {k.lower(): v for k, v in response.getheaders()})
    finally:
        connection.close()


# ── deploy, serve, delete ────────────────────────────────────────────────────


class FidelityStackError(HookstackError):
    """The fidelity stack could not be deployed or served; the checks that need it error."""


@dataclass
class FidelityStack:
    """The deployed fidelity stack, as the checks use it."""

    name: str
    api_url: str  # stage included, no trailing slash
    batch_queue_url: str
    log_queue_url: str
    _closers: list[Any] = field(default_factory=list, repr=False)

    def url(self, path: str) -> str:
        return self.api_url + path

    def close(self) -> list[str]:
        """Stop serving and delete the stack; what could not be removed (best effort, bounded)."""
        left: list[str] = []
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception as exc:  # noqa: BLE001 - report and go on: every closer must run
                left.append(f"{getattr(closer, '__name__', 'clean-up')}: {exc}")
        self._closers.clear()
        return left


def _wait_for_stack(cfn: Any, name: str, done: set[str], timeout_s: float) -> str:
    """Poll the stack (at least once) until its status is in ``done``, settles, or ``timeout_s``
    passes; the last status seen (``DELETE_COMPLETE`` once it is gone)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            status = str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
        except ClientError as exc:
            if "does not exist" in str(exc):
                return "DELETE_COMPLETE"
            raise
        if status in done or not status.endswith("_IN_PROGRESS") or time.monotonic() >= deadline:
            return status
        time.sleep(1)


def deploy_fidelity_stack(
    session: Any, endpoint_url: str | None, target: str, prefix: str, client: Any
) -> FidelityStack:
    """Deploy the template on ``target`` and serve it there; ``client(service)`` gives a bounded boto3
    client of the target. Raises :class:`FidelityStackError` in one line when it cannot."""
    cfn = client("cloudformation")
    name = f"{prefix}-stack"
    closers: list[Any] = []

    def delete_stack() -> None:
        if _wait_for_stack(cfn, name, set(), 0) == "DELETE_COMPLETE":
            return  # never created
        cfn.delete_stack(StackName=name)
        status = _wait_for_stack(cfn, name, {"DELETE_COMPLETE"}, DELETE_TIMEOUT_S)
        if status != "DELETE_COMPLETE":
            raise FidelityStackError(f"stack {name} not deleted ({status})")

    stack = FidelityStack(name, "", "", "", closers)
    closers.append(delete_stack)
    try:
        # The change-set path `hookstack up` and `hookstack deploy` take (one-line error on failure).
        outputs = ensure_stack(cfn, name, fidelity_template(prefix), {}).outputs
        stack.batch_queue_url = outputs["BatchQueueUrl"]
        stack.log_queue_url = outputs["LogQueueUrl"]
        stack.api_url = _serve(stack, target, endpoint_url, session, outputs, closers)
    except (ClientError, BotoCoreError, KeyError, OSError) as exc:
        left = stack.close()
        raise FidelityStackError(
            f"fidelity stack {name} could not be deployed: {exc}" + (f"; left: {left}" if left else "")
        ) from None
    except HookstackError as exc:
        left = stack.close()
        raise FidelityStackError(f"{exc}" + (f"; left: {left}" if left else "")) from None
    return stack


def _serve(
    stack: FidelityStack,
    target: str,
    endpoint_url: str | None,
    session: Any,
    outputs: Mapping[str, str],
    closers: list[Any],
) -> str:
    """The stage's invoke URL on this target; on embedded, start the data plane for it first."""
    if target == "aws":
        return outputs["ApiUrl"].rstrip("/")
    if target != "embedded":
        return f"{endpoint_url}/_aws/execute-api/{outputs['ApiId']}/{STAGE_NAME}"
    from stack.embedded.gateway import launch  # only the embedded target serves the API itself

    work_dir = Path(tempfile.mkdtemp(prefix="hookstack-fidelity-"))

    def remove_work_dir() -> None:
        shutil.rmtree(work_dir, ignore_errors=True)

    closers.append(remove_work_dir)
    # As `hookstack up` starts a stage's data plane: the gateway for the API, and with the stack's
    # name the event plane for its mappings. It goes with this process if the run is killed.
    gateway = launch(
        str(endpoint_url),
        outputs["ApiId"],
        STAGE_NAME,
        work_dir / "logs",
        work_dir / "gateway",
        stack_name=stack.name,
        region=session.region_name or "us-east-1",
        exit_with_parent=True,
    )

    def stop_data_plane() -> None:
        gateway.stop()

    closers.append(stop_data_plane)
    return gateway.url.rstrip("/")


def shared_fidelity_stack(probe: Probe) -> FidelityStack:
    """The run's fidelity stack, deployed on the first check that needs it (once per suite)."""
    return probe.shared(
        "fidelity-stack",
        lambda: deploy_fidelity_stack(
            probe.session, probe.endpoint_url, probe.target, probe.unique_name(), probe.client
        ),
    )
