"""The rendered CloudFormation template: structure, AWS rules, least privilege, cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stack.config import HookstackConfig
from stack.definition.app import bootstrap_stack, hookstack_stack
from stack.definition.render import render_template
from stack.patterns.base import VISIBILITY_TIMEOUT_FACTOR


@pytest.fixture(scope="module")
def config() -> HookstackConfig:
    return HookstackConfig()


@pytest.fixture(scope="module")
def template(config) -> dict:
    return render_template(hookstack_stack(config))


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_queues_are_fifo_with_redrive_and_visibility_six_times_worker_timeout(template, config):
    queue = template["Resources"]["IngestQueue"]["Properties"]
    dlq = template["Resources"]["IngestDeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] == "true" and dlq["FifoQueue"] == "true"
    assert queue["QueueName"].endswith(".fifo") and dlq["QueueName"].endswith(".fifo")
    assert queue["VisibilityTimeout"] >= VISIBILITY_TIMEOUT_FACTOR * config.worker_timeout_seconds
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]},
        "maxReceiveCount": config.max_receive_count,
    }
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


def test_event_source_mapping_reports_partial_batches(template):
    (mapping,) = resources_of(template, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["BatchSize"] <= 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"]["MaximumConcurrency"] >= 2


def test_routes_authorizer_and_stage(template, config):
    methods = resources_of(template, "AWS::ApiGateway::Method")
    assert {m["Properties"]["HttpMethod"] for m in methods.values()} == {"POST", "GET"}
    assert all(m["Properties"]["AuthorizationType"] == "CUSTOM" for m in methods.values())
    (authorizer,) = resources_of(template, "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["Type"] == "REQUEST"
    assert authorizer["Properties"]["IdentitySource"] == f"method.request.header.{config.identity_header}"
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 300
    (stage,) = resources_of(template, "AWS::ApiGateway::Stage").values()
    (setting,) = stage["Properties"]["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == config.throttle_rate_limit
    assert setting["ThrottlingBurstLimit"] == config.throttle_burst_limit
    assert stage["Properties"]["Variables"]["maxRequestBytes"] == str(config.max_request_bytes)
    paths = {r["Properties"]["PathPart"] for r in resources_of(template, "AWS::ApiGateway::Resource").values()}
    assert paths == {"webhooks", "{provider}", "events", "{id}"}


def test_deployment_id_changes_when_the_api_changes():
    first = render_template(hookstack_stack(HookstackConfig()))
    second = render_template(hookstack_stack(HookstackConfig(authorizer_ttl_seconds=0)))
    deployments = [set(resources_of(t, "AWS::ApiGateway::Deployment")) for t in (first, second)]
    assert deployments[0] != deployments[1]


def _statements(template: dict, function: str) -> list[dict]:
    role = template["Resources"][f"{function}Role"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _granted(template: dict, function: str) -> set[str]:
    return {a for s in _statements(template, function) for a in s["Action"]}


def test_least_privilege_per_function(template):
    assert _granted(template, "StatusFunction") == {"dynamodb:GetItem", "logs:CreateLogStream", "logs:PutLogEvents"}
    assert not any(a.startswith(("sqs:", "dynamodb:", "s3:")) for a in _granted(template, "AuthorizerFunction"))
    producer = _granted(template, "ProducerFunction")
    assert "sqs:SendMessage" in producer and "sqs:ReceiveMessage" not in producer
    assert "s3:GetObject" not in producer and "dynamodb:DeleteItem" not in producer
    worker = _granted(template, "WorkerFunction")
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= worker and "s3:PutObject" not in worker
    for function in ("AuthorizerFunction", "ProducerFunction", "WorkerFunction", "StatusFunction"):
        for statement in _statements(template, function):
            assert "*" not in json.dumps(statement["Action"])
            assert statement["Resource"] != "*"


def test_least_privilege_for_the_jobs_functions():
    jobs = render_template(hookstack_stack(HookstackConfig(patterns=["jobs"])))
    intake = _granted(jobs, "JobsIntakeFunction")
    assert {"dynamodb:PutItem", "sqs:SendMessage", "s3:PutObject"} <= intake
    assert not intake & {"dynamodb:UpdateItem", "sqs:ReceiveMessage", "s3:GetObject"}
    assert _granted(jobs, "JobsQueryFunction") == {"dynamodb:GetItem", "logs:CreateLogStream", "logs:PutLogEvents"}
    results = _granted(jobs, "JobsResultsFunction")
    assert {"dynamodb:UpdateItem", "sqs:ReceiveMessage", "sqs:DeleteMessage"} <= results
    assert not results & {"dynamodb:PutItem", "dynamodb:DeleteItem", "sqs:SendMessage"}
    for function in ("JobsIntakeFunction", "JobsQueryFunction", "JobsResultsFunction"):
        for statement in _statements(jobs, function):
            assert "*" not in json.dumps(statement["Action"]) and statement["Resource"] != "*"
    # Not one webhooks resource in a jobs-only stage, and the job body model is bound to POST /jobs.
    assert "IngestQueue" not in jobs["Resources"] and "ProducerFunction" not in jobs["Resources"]
    (method,) = [
        r for r in resources_of(jobs, "AWS::ApiGateway::Method").values() if r["Properties"]["HttpMethod"] == "POST"
    ]
    assert method["Properties"]["RequestModels"] == {"application/json": {"Ref": "WebhookApiJobSubmissionModel"}}
    assert method["Properties"]["RequestValidatorId"] == {"Ref": "WebhookApiBodyValidator"}
    (validator,) = resources_of(jobs, "AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestBody"] is True


def test_functions_take_code_from_the_artifact_parameters(template):
    for function in resources_of(template, "AWS::Lambda::Function").values():
        assert function["Properties"]["Code"] == {
            "S3Bucket": {"Ref": "ArtifactBucket"},
            "S3Key": {"Ref": "ArtifactKey"},
        }
    assert set(template["Parameters"]) >= {"ArtifactBucket", "ArtifactKey"}


def test_settings_come_from_config_not_code():
    config = HookstackConfig(
        stage="prod", max_receive_count=7, worker_timeout_seconds=20, authorizer_ttl_seconds=60, max_request_bytes=1024
    )
    template = render_template(hookstack_stack(config))
    queue = template["Resources"]["IngestQueue"]["Properties"]
    assert queue["QueueName"] == "hookstack-prod-ingest.fifo"
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 7 and queue["VisibilityTimeout"] == 120
    env = template["Resources"]["ProducerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MAX_BODY_BYTES"] == "1024"
    assert json.loads(env["PROVIDER_SECRET_PARAMETERS"])["shopify"] == "/hookstack/prod/providers/shopify/secret"


@pytest.mark.parametrize("bootstrap", [False, True], ids=["application", "bootstrap"])
def test_synth_output_passes_cfn_lint(tmp_path, bootstrap, isolated_home):
    out = tmp_path / "template.json"
    args = [sys.executable, "-m", "stack.cli", "synth", "--out", str(out)] + (["--bootstrap"] if bootstrap else [])
    subprocess.run(args, check=True, capture_output=True)
    assert json.loads(out.read_text())["Resources"]
    lint = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(out)], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_bootstrap_holds_only_the_artifacts_bucket(config):
    template = render_template(bootstrap_stack(config))
    assert [r["Type"] for r in template["Resources"].values()] == ["AWS::S3::Bucket"]
    assert "Parameters" not in template


def test_source_ip_allow_lists_key_the_authorizer_cache_on_the_caller_address():
    config = HookstackConfig(tenants=[{"name": "acme", "source_cidrs": ["203.0.113.0/24"]}])
    (authorizer,) = resources_of(render_template(hookstack_stack(config)), "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["IdentitySource"] == (
        f"method.request.header.{config.identity_header}, context.identity.sourceIp"
    )


def test_a_query_string_token_replaces_the_header_as_identity_source():
    config = HookstackConfig(identity_query_parameter="token")
    template = render_template(hookstack_stack(config))
    (authorizer,) = resources_of(template, "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["IdentitySource"] == "method.request.querystring.token"
    env = template["Resources"]["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["IDENTITY_QUERY_PARAMETER"] == "token"
    header_env = render_template(hookstack_stack(HookstackConfig()))["Resources"]["AuthorizerFunction"]
    assert "IDENTITY_QUERY_PARAMETER" not in header_env["Properties"]["Environment"]["Variables"]


def test_a_query_string_token_keeps_the_source_ip_in_the_cache_key():
    config = HookstackConfig(
        identity_query_parameter="key_1", tenants=[{"name": "acme", "source_cidrs": ["203.0.113.0/24"]}]
    )
    (authorizer,) = resources_of(render_template(hookstack_stack(config)), "AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["IdentitySource"] == ("method.request.querystring.key_1, context.identity.sourceIp")


def test_fault_injection_can_be_left_out_of_a_stage():
    on = render_template(hookstack_stack(HookstackConfig()))
    off = render_template(hookstack_stack(HookstackConfig(fault_injection=False)))
    for function in ("ProducerFunction", "WorkerFunction"):
        assert "FAULTS_PARAMETER" in on["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert "FAULTS_PARAMETER" not in off["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert "chaos" not in json.dumps(_statements(off, function))


def test_queues_run_in_fifo_high_throughput_mode_by_default(template):
    for logical_id in ("IngestQueue", "IngestDeadLetterQueue"):
        props = template["Resources"][logical_id]["Properties"]
        assert props["DeduplicationScope"] == "messageGroup", logical_id
        assert props["FifoThroughputLimit"] == "perMessageGroupId", logical_id


def test_fifo_high_throughput_can_be_turned_off_per_stage():
    template = render_template(hookstack_stack(HookstackConfig(fifo_high_throughput=False)))
    for logical_id in ("IngestQueue", "IngestDeadLetterQueue"):
        props = template["Resources"][logical_id]["Properties"]
        assert "DeduplicationScope" not in props and "FifoThroughputLimit" not in props


def test_worker_writes_through_update_item_only(template):
    """The worker's table access: UpdateItem (status writes and the transaction's members) and
    GetItem on the events table; no PutItem/DeleteItem since it keeps no idempotency records."""
    worker = {a for a in _granted(template, "WorkerFunction") if a.startswith("dynamodb:")}
    assert worker == {"dynamodb:UpdateItem", "dynamodb:GetItem"}
    env = template["Resources"]["WorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert "IDEMPOTENCY_TTL_SECONDS" not in env


def test_the_notifications_pattern_feeds_the_callback_queue_from_the_completions_topic():
    stage = render_template(hookstack_stack(HookstackConfig(patterns=["jobs", "notifications"])))
    resources = stage["Resources"]
    assert resources["CompletionsTopic"]["Type"] == "AWS::SNS::Topic"
    (subscription,) = resources_of(stage, "AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "CompletionsTopic"},
        "Protocol": "sqs",
        "Endpoint": {"Fn::GetAtt": ["CallbackQueue", "Arn"]},
        "RawMessageDelivery": "true",
    }
    (policy,) = resources_of(stage, "AWS::SQS::QueuePolicy").values()
    assert policy["Properties"]["Queues"] == [{"Ref": "CallbackQueue"}]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": [{"Ref": "CompletionsTopic"}]}}
    queue = resources["CallbackQueue"]["Properties"]
    assert "FifoQueue" not in queue
    assert queue["RedrivePolicy"]["maxReceiveCount"] == HookstackConfig().callback_max_attempts
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["CallbackDeadLetterQueue", "Arn"]}
    assert {"CompletionsTopicArn", "CallbackQueueUrl", "CallbackDlqUrl", "CallbackSenderFunctionName"} <= set(
        stage["Outputs"]
    )


def test_least_privilege_for_the_callback_sender_and_the_results_publisher():
    stage = render_template(hookstack_stack(HookstackConfig(patterns=["jobs", "notifications"])))
    sender = _statements(stage, "CallbackSenderFunction")
    by_action = {action: s["Resource"] for s in sender for action in s["Action"]}
    assert set(by_action) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "ssm:GetParametersByPath",
    }
    assert by_action["sqs:ChangeMessageVisibility"] == [{"Fn::GetAtt": ["CallbackQueue", "Arn"]}]
    assert all("/callbacks" in json.dumps(r) for r in by_action["ssm:GetParametersByPath"])
    publish = [s for s in _statements(stage, "JobsResultsFunction") if "sns:Publish" in s["Action"]]
    assert publish == [{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": [{"Ref": "CompletionsTopic"}]}]
    env = stage["Resources"]["JobsResultsFunction"]["Properties"]["Environment"]["Variables"]
    assert env["COMPLETIONS_TOPIC_ARN"] == {"Ref": "CompletionsTopic"}
    # Without the notifications pattern the results function neither publishes nor may.
    jobs = render_template(hookstack_stack(HookstackConfig(patterns=["jobs"])))
    assert "sns:Publish" not in _granted(jobs, "JobsResultsFunction")
    assert (
        "COMPLETIONS_TOPIC_ARN"
        not in jobs["Resources"]["JobsResultsFunction"]["Properties"]["Environment"]["Variables"]
    )
