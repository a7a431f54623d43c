"""`hookstack aws`'s library: command-line words read against botocore's model of the operation,
the call made (moto), and the answer as JSON."""

from __future__ import annotations

import base64
import datetime
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody

from stack.errors import UsageError
from stack.ops.aws_call import (
    AwsCallFailed,
    kebab_case,
    operation_model,
    parse_call,
    parse_parameters,
    response_json,
    send,
    service_model,
)


def sqs_operation(name: str):
    return operation_model(service_model("sqs"), name)


@pytest.mark.parametrize("spelling", ["get-queue-attributes", "get_queue_attributes", "GetQueueAttributes"])
def test_an_operation_is_named_as_the_cli_boto3_or_the_api_names_it(spelling):
    call = parse_call("sqs", spelling, ["--QueueUrl", "https://q", "--AttributeNames", "All"])
    assert (call.operation, call.method) == ("GetQueueAttributes", "get_queue_attributes")
    assert call.params == {"QueueUrl": "https://q", "AttributeNames": ["All"]}


def test_kebab_case_follows_the_aws_cli():
    assert kebab_case("ListObjectsV2") == "list-objects-v2"
    assert kebab_case("GetQueueAttributes") == "get-queue-attributes"


def test_values_take_their_parameters_types():
    params = parse_parameters(
        sqs_operation("receive-message"),
        ["--QueueUrl", "https://q", "--MaxNumberOfMessages", "10", "--WaitTimeSeconds=0"],
    )
    assert params == {"QueueUrl": "https://q", "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}
    dynamodb = operation_model(service_model("dynamodb"), "scan")
    assert parse_parameters(dynamodb, ["--TableName", "t", "--ConsistentRead", "true"])["ConsistentRead"] is True


def test_a_list_takes_repeated_flags_several_values_or_a_json_array():
    receive = sqs_operation("receive-message")
    repeated = ["--QueueUrl", "q", "--AttributeNames", "SentTimestamp", "--AttributeNames", "ApproximateReceiveCount"]
    several = ["--QueueUrl", "q", "--AttributeNames", "SentTimestamp", "ApproximateReceiveCount"]
    as_json = ["--QueueUrl", "q", "--AttributeNames", '["SentTimestamp", "ApproximateReceiveCount"]']
    expected = ["SentTimestamp", "ApproximateReceiveCount"]
    for words in (repeated, several, as_json):
        assert parse_parameters(receive, words)["AttributeNames"] == expected


def test_a_map_takes_a_json_object_and_json_input_is_the_base():
    put = operation_model(service_model("dynamodb"), "put-item")
    item = {"pk": {"S": "a"}, "n": {"N": "1"}}
    assert parse_parameters(put, ["--TableName", "t", "--Item", json.dumps(item)]) == {"TableName": "t", "Item": item}
    params = parse_parameters(put, ["--TableName", "override"], json_input=json.dumps({"TableName": "t", "Item": item}))
    assert params == {"TableName": "override", "Item": item}


@pytest.mark.parametrize(
    ("service", "operation", "words", "fragment"),
    [
        ("sqss", "list-queues", [], "unknown AWS service 'sqss' (did you mean sqs?)"),
        ("sqs", "get-queue-atributes", [], "did you mean get-queue-attributes"),
        ("sqs", "list-queues", ["--QueuePrefix", "x"], "did you mean --QueueNamePrefix?"),
        ("sqs", "receive-message", ["--QueueUrl", "q", "--MaxNumberOfMessages", "ten"], "'ten' is not a number"),
        ("sqs", "receive-message", ["--QueueUrl", "q", "--QueueUrl", "r"], "--QueueUrl given twice"),
        ("sqs", "receive-message", ["--QueueUrl"], "--QueueUrl needs a value"),
        ("sqs", "list-queues", ["stray"], "unexpected 'stray'"),
        ("dynamodb", "put-item", ["--TableName", "t", "--Item", "{"], "--Item: not valid JSON"),
        ("dynamodb", "put-item", ["--TableName", "t", "--Item", "[1]"], "--Item takes a JSON object"),
    ],
)
def test_words_that_cannot_be_used_are_usage_errors(service, operation, words, fragment):
    with pytest.raises(UsageError) as raised:
        parse_call(service, operation, words)
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_a_call_is_made_and_its_answer_is_json(moto_aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sent = send(sqs, parse_call("sqs", "send-message", ["--QueueUrl", url, "--MessageBody", "hello"]))
    assert "MessageId" in sent and "ResponseMetadata" not in sent
    answer = send(sqs, parse_call("sqs", "get-queue-attributes", ["--QueueUrl", url, "--AttributeNames", "All"]))
    assert json.loads(response_json(answer))["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_a_refused_call_is_one_line_naming_service_operation_and_code(moto_aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    call = parse_call("sqs", "get-queue-url", ["--QueueName", "no-such-queue"])
    with pytest.raises(AwsCallFailed) as raised:
        send(sqs, call)
    message = str(raised.value)
    assert message.startswith("sqs GetQueueUrl: ") and "NonExistentQueue" in message and "\n" not in message


def test_a_missing_required_parameter_is_a_usage_error_before_sending(moto_aws):
    sqs = boto3.client("sqs", region_name="us-east-1")
    with pytest.raises(UsageError) as raised:
        send(sqs, parse_call("sqs", "get-queue-attributes", []))
    assert str(raised.value).startswith("sqs GetQueueAttributes: Missing required parameter")


def test_datetimes_are_iso_strings_and_bytes_base64():
    when = datetime.datetime(2026, 12, 1, 13, 47, 52, tzinfo=datetime.UTC)
    body = StreamingBody(io.BytesIO(b"\x00raw"), len(b"\x00raw"))
    document = json.loads(response_json({"LastModified": when, "Blob": b"\xffbytes", "Body": body}))
    assert document["LastModified"] == "2026-12-01T13:47:52+00:00"
    assert base64.b64decode(document["Blob"]) == b"\xffbytes"
    assert base64.b64decode(document["Body"]) == b"\x00raw"
