"""`hookstack aws` through the command line: a call against a stage's target (an SQS API served
by moto stands in for the emulator), and its errors as one line with the right exit code."""

from __future__ import annotations

import json

import pytest
from moto.server import ThreadedMotoServer

from stack.deploy.outputs import StackOutputs, save_outputs
from stack.embedded.emulator import free_port
from tests.unit.stack.test_cli_errors import assert_one_line_error, hookstack


@pytest.fixture
def localstack_stage(isolated_home):
    """A stage saved as deployed to a LocalStack-like endpoint: an in-process moto server."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    save_outputs(
        StackOutputs(
            target="localstack",
            stage="dev",
            region="us-east-1",
            stack_name="hookstack-dev",
            api_id="api",
            api_url=f"{endpoint}/_aws/execute-api/api/dev",
            gateway="localstack",
            endpoint_url=endpoint,
            artifacts_bucket="artifacts",
            function_names={},
        )
    )
    try:
        yield endpoint
    finally:
        server.stop()


def test_a_call_goes_to_the_stages_endpoint_and_prints_json(localstack_stage):
    created = hookstack("aws", "sqs", "create-queue", "--QueueName", "orders", "--target", "localstack")
    assert created.returncode == 0, created.stderr
    url = json.loads(created.stdout)["QueueUrl"]
    assert url.startswith(localstack_stage)
    hookstack("aws", "sqs", "send_message", "--QueueUrl", url, "--MessageBody", "hi", "--target", "localstack")
    attributes = hookstack(
        "aws", "sqs", "GetQueueAttributes", "--target", "localstack", "--QueueUrl", url, "--AttributeNames", "All"
    )
    assert attributes.returncode == 0, attributes.stderr
    assert json.loads(attributes.stdout)["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_a_refused_call_is_one_line_with_service_operation_and_code(localstack_stage):
    result = hookstack(
        "aws", "sqs", "get-queue-attributes", "--target", "localstack", "--QueueUrl", f"{localstack_stage}/1/nope"
    )
    assert_one_line_error(result, "sqs GetQueueAttributes: ", "NonExistentQueue")
    assert result.returncode == 1 and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["aws", "sqss", "list-queues"], "did you mean sqs?"),
        (["aws", "sqs", "list-queue"], "did you mean list-queues"),
        (["aws", "sqs", "get-queue-attributes", "--QueueUrl", "q", "--AttributeName", "All"], "--AttributeNames"),
        (["aws", "sqs", "receive-message", "--QueueUrl", "q", "--MaxNumberOfMessages", "ten"], "not a number"),
        (["aws", "sqs", "list-queues", "--json-input", "{"], "--json-input: not valid JSON"),
    ],
)
def test_unusable_words_are_usage_errors_without_a_stack(isolated_home, args, fragment):
    result = hookstack(*args)
    assert_one_line_error(result, fragment)
    assert result.returncode == 2


def test_without_a_deployed_stage_it_says_how_to_get_one(isolated_home):
    result = hookstack("aws", "sqs", "list-queues")
    assert_one_line_error(result, "hookstack up")
    assert result.returncode == 1
