"""The benchmark's reference handler sets: which handler each function runs, and that the
"baseline-status" producer makes exactly the baseline's send plus the real status write."""

from __future__ import annotations

import json

import pytest

from stack.config import HookstackConfig
from stack.definition.app import hookstack_stack
from stack.definition.render import render_template

FUNCTIONS = {
    "AuthorizerFunction": "authorizer",
    "ProducerFunction": "producer",
    "WorkerFunction": "worker",
    "StatusFunction": "status",
}


def handlers_of(handler_set: str) -> dict[str, str]:
    template = render_template(hookstack_stack(HookstackConfig(handler_set=handler_set)))
    return {FUNCTIONS[k]: v["Properties"]["Handler"] for k, v in template["Resources"].items() if k in FUNCTIONS}


def test_each_handler_set_deploys_its_own_handlers_on_the_same_functions():
    assert handlers_of("hookstack") == {f: f"handlers.{f}.handler" for f in FUNCTIONS.values()}
    assert handlers_of("baseline") == {f: f"handlers.baseline.{f}_handler" for f in FUNCTIONS.values()}
    assert handlers_of("baseline-status") == {
        **{f: f"handlers.baseline.{f}_handler" for f in FUNCTIONS.values()},
        "producer": "handlers.baseline.producer_recording_status_handler",
    }


def test_an_unknown_handler_set_is_refused():
    with pytest.raises(ValueError):
        HookstackConfig(handler_set="fast")


@pytest.fixture
def aws(moto_aws, monkeypatch):
    import boto3

    from handlers import baseline

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="ingest.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="events",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("QUEUE_URL", queue_url)
    monkeypatch.setenv("EVENTS_TABLE", "events")
    # The handlers cache their clients: fresh ones inside this mock.
    baseline._sqs.cache_clear()
    baseline._status.cache_clear()
    yield sqs, queue_url, dynamodb
    baseline._sqs.cache_clear()
    baseline._status.cache_clear()


def test_the_plain_baseline_producer_only_sends(aws):
    from handlers.baseline import producer_handler

    sqs, queue_url, dynamodb = aws
    response = producer_handler({"body": '{"id": 1}'}, None)
    assert response["statusCode"] == 202
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in messages] == ['{"id": 1}']
    assert dynamodb.scan(TableName="events")["Count"] == 0


def test_the_status_baseline_producer_sends_then_records_received(aws):
    from handlers.baseline import producer_recording_status_handler

    sqs, queue_url, dynamodb = aws
    response = producer_recording_status_handler({"body": '{"id": 2}'}, None)
    assert response["statusCode"] == 202
    event_id = json.loads(response["body"])["id"]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in messages] == ['{"id": 2}']
    item = dynamodb.get_item(TableName="events", Key={"id": {"S": event_id}})["Item"]
    assert item["status"] == {"S": "RECEIVED"} and item["deliveries"] == {"N": "1"}
