"""The notifications pattern's handlers: signing (checked with the public Standard Webhooks
library), the callback sender's decisions against moto and a local HTTP receiver, and the
subscriptions it reads."""

from __future__ import annotations

import email.utils
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SSMProvider
from standardwebhooks.webhooks import Webhook

from handlers.contract.settings import CallbackSenderSettings
from handlers.notifications.contract import JOB_COMPLETED, Notification, NotificationPublisher, notification_id
from handlers.notifications.sender import (
    BACKOFF_STEPS,
    MAX_RETRY_AFTER_SECONDS,
    CallbackSender,
    backoff_seconds,
)
from handlers.notifications.signing import signed_headers
from handlers.notifications.subscriptions import SubscriptionDirectory, callback_url_problem, parse_subscriptions
from handlers.platform.http_answers import parse_retry_after
from stack.clients.providers.standard_webhooks import new_secret

REGION = "us-east-1"
PATH = "/hookstack/test/callbacks/"
BASE = 5


def test_a_signed_callback_verifies_with_the_public_library():
    secret = new_secret()
    body = Notification(type=JOB_COMPLETED, timestamp="2025-01-01T00:00:00.000Z", data={"id": "job_1"}).body()
    headers = signed_headers(secret, "msg_abc", body.encode())
    assert Webhook(secret).verify(body.encode(), headers) == json.loads(body)
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(body.encode(), headers)


def test_event_ids_are_the_same_for_the_same_fact_only():
    assert notification_id(JOB_COMPLETED, "job_1.SUCCEEDED") == notification_id(JOB_COMPLETED, "job_1.SUCCEEDED")
    assert notification_id(JOB_COMPLETED, "job_1.SUCCEEDED") != notification_id(JOB_COMPLETED, "job_1.FAILED")
    assert notification_id(JOB_COMPLETED, "job_1.SUCCEEDED").startswith("msg_")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/x", None),
        ("http://127.0.0.1:8080/cb", None),
        ("http://localhost/cb", None),
        ("http://[::1]:9/cb", None),
        ("http://hooks.example.com/x", "plain http only"),
        ("http://10.0.0.1/x", "plain http only"),
        ("ftp://hooks.example.com/x", "https:// URL"),
        ("file:///etc/passwd", "https:// URL"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("not a url", "https:// URL"),
    ],
)
def test_callback_url_rules(url, problem):
    found = callback_url_problem(url)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_a_subscription_needs_both_url_and_secret():
    found = parse_subscriptions({"a/url": "https://a", "a/secret": "whsec_x", "b/url": "https://b", "c/secret": "s"})
    assert list(found) == ["a"] and found["a"].url == "https://a"
    assert "whsec_x" not in repr(found["a"])


def test_backoff_grows_per_attempt_and_honours_retry_after_capped():
    assert [backoff_seconds(n, BASE, now=0) for n in (1, 2, 3, 4)] == [5, 30, 120, 600]
    assert backoff_seconds(99, BASE, now=0) == BASE * BACKOFF_STEPS[-1]
    assert backoff_seconds(1, BASE, "7", now=0) == 7
    assert backoff_seconds(1, BASE, str(10**6), now=0) == MAX_RETRY_AFTER_SECONDS
    assert backoff_seconds(2, BASE, "soon", now=0) == 30  # not a Retry-After: the schedule
    date = email.utils.formatdate(1_000_060, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == 60


# --- the sender against moto and a local receiver ----------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict[str, str]]] = []
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.answers, _Receiver.received = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/callbacks/acme"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _RecordingSqs:
    """moto's SQS, with the visibility changes kept to look at."""

    def __init__(self, sqs: Any):
        self._sqs = sqs
        self.visibility: list[int] = []

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.visibility.append(kwargs["VisibilityTimeout"])
        return self._sqs.change_message_visibility(**kwargs)


@pytest.fixture
def callbacks_aws(moto_aws):
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="callbacks")["QueueUrl"]
    ssm = boto3.client("ssm", region_name=REGION)
    return type("Aws", (), {"sqs": sqs, "ssm": ssm, "queue_url": queue_url})


def _subscribe(aws, tenant: str, url: str) -> str:
    secret = new_secret()
    aws.ssm.put_parameter(Name=f"{PATH}{tenant}/url", Value=url, Type="String")
    aws.ssm.put_parameter(Name=f"{PATH}{tenant}/secret", Value=secret, Type="SecureString")
    return secret


def _sender(aws) -> tuple[CallbackSender, _RecordingSqs]:
    settings = CallbackSenderSettings(
        callback_queue_url=aws.queue_url, callback_parameter_path=PATH, backoff_seconds=BASE, secret_cache_seconds=0
    )
    provider = SSMProvider(boto3_client=aws.ssm)
    sqs = _RecordingSqs(aws.sqs)
    return CallbackSender(settings, SubscriptionDirectory(lambda: provider, PATH, 0), sqs), sqs


def _published(aws, tenant: str = "acme", event_id: str = "msg_1", receives: int = 1) -> dict:
    """A callback queue record, as the event source mapping hands it over after ``receives`` receives."""
    body = Notification(type=JOB_COMPLETED, timestamp="2025-01-01T00:00:00.000Z", data={"id": "job_1"}).body()
    attributes = {"tenant": tenant, "event_id": event_id}
    aws.sqs.send_message(
        QueueUrl=aws.queue_url,
        MessageBody=body,
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
    message = aws.sqs.receive_message(QueueUrl=aws.queue_url, VisibilityTimeout=0, AttributeNames=["All"])
    (message,) = message["Messages"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": str(receives)},
        "messageAttributes": {k: {"stringValue": v, "dataType": "String"} for k, v in attributes.items()},
        "eventSource": "aws:sqs",
    }


def test_a_2xx_answer_delivers_a_callback_the_tenant_verifies(callbacks_aws, receiver):
    secret = _subscribe(callbacks_aws, "acme", receiver)
    sender, sqs = _sender(callbacks_aws)
    record = _published(callbacks_aws)
    assert sender.handle({"Records": [record]}, None)["batchItemFailures"] == []
    ((headers, body),) = _Receiver.received
    assert headers["webhook-id"] == "msg_1" and body == record["body"].encode()
    assert Webhook(secret).verify(body, headers)["data"] == {"id": "job_1"}
    assert sender.counts["delivered"] == 1 and sqs.visibility == []


def test_a_410_drops_the_callback_without_a_retry(callbacks_aws, receiver):
    _subscribe(callbacks_aws, "acme", receiver)
    sender, sqs = _sender(callbacks_aws)
    _Receiver.answers = [(410, {})]
    assert sender.handle({"Records": [_published(callbacks_aws)]}, None)["batchItemFailures"] == []
    assert sender.counts["gone"] == 1 and sqs.visibility == []


def test_a_503_with_retry_after_fails_the_record_and_hides_it_that_long(callbacks_aws, receiver):
    _subscribe(callbacks_aws, "acme", receiver)
    sender, sqs = _sender(callbacks_aws)
    _Receiver.answers = [(503, {"Retry-After": "7"}), (500, {}), (404, {})]
    records = [_published(callbacks_aws, event_id=f"msg_{i}", receives=i + 1) for i in range(3)]
    response = sender.handle({"Records": records}, None)
    assert response["batchItemFailures"] == [{"itemIdentifier": r["messageId"]} for r in records]
    # Retry-After wins; otherwise the schedule of the attempt (a 404 too: the tenant may fix it).
    assert sqs.visibility == [7, BASE * BACKOFF_STEPS[1], BASE * BACKOFF_STEPS[2]]
    assert sender.counts["retried"] == 3


def test_a_refused_connection_is_retried_with_backoff(callbacks_aws, receiver):
    _subscribe(callbacks_aws, "acme", "http://127.0.0.1:9/nothing-listens")
    sender, sqs = _sender(callbacks_aws)
    record = _published(callbacks_aws)
    assert sender.handle({"Records": [record]}, None)["batchItemFailures"] == [{"itemIdentifier": record["messageId"]}]
    assert sqs.visibility == [BASE]


def test_a_tenant_without_a_subscription_is_counted_and_dropped(callbacks_aws, receiver):
    _subscribe(callbacks_aws, "acme", receiver)
    sender, sqs = _sender(callbacks_aws)
    response = sender.handle({"Records": [_published(callbacks_aws, tenant="globex")]}, None)
    assert response["batchItemFailures"] == [] and sender.counts["no_subscription"] == 1
    assert _Receiver.received == [] and sqs.visibility == []


def test_a_message_without_its_attributes_fails_its_record_only(callbacks_aws, receiver):
    _subscribe(callbacks_aws, "acme", receiver)
    sender, _ = _sender(callbacks_aws)
    good, bad = _published(callbacks_aws), _published(callbacks_aws, event_id="msg_2")
    bad["messageAttributes"] = {}
    response = sender.handle({"Records": [good, bad]}, None)
    assert response["batchItemFailures"] == [{"itemIdentifier": bad["messageId"]}]


def test_the_publisher_sends_the_event_and_its_attributes_through_a_raw_subscription(moto_aws):
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="completions")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="callbacks")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    notification = Notification(type=JOB_COMPLETED, timestamp="2025-01-01T00:00:00.000Z", data={"id": "job_1"})
    NotificationPublisher(sns, topic).publish("acme", "msg_1", notification)
    (message,) = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
    assert message["Body"] == notification.body()
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {"tenant": "acme", "event_id": "msg_1"}
