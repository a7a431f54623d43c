"""`hookstack subscribe` / `subscriptions` / `callbacks`: URL and secret rules, what is stored in
SSM, a secret never shown again, and the callback DLQ replay."""

from __future__ import annotations

import base64

import boto3
import pytest
from click.testing import CliRunner

from stack.cli import command_line
from stack.clients.providers.standard_webhooks import new_secret
from stack.config import HookstackConfig
from stack.errors import UsageError
from stack.ops.callbacks import list_dead_callbacks, replay_callbacks
from stack.ops.subscriptions import checked_secret, list_subscriptions, subscribe, unsubscribe
from tests.unit.stack.test_cli_errors import assert_one_line_error, hookstack

REGION = "us-east-1"
CONFIG = HookstackConfig(stage="test")


@pytest.fixture
def ssm(moto_aws):
    return boto3.client("ssm", region_name=REGION)


def test_a_bad_url_is_one_line_and_exit_2_before_any_stack_is_looked_up(isolated_home):
    result = hookstack("subscribe", "--tenant", "demo", "--url", "http://hooks.example.com/cb")
    assert_one_line_error(result, "plain http only")
    assert result.returncode == 2
    assert hookstack("subscribe", "--tenant", "demo").returncode == 2  # neither --url nor --remove
    assert hookstack("subscribe", "--tenant", "nobody", "--url", "https://h.example/cb").returncode == 2


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("plain", "starts with whsec_"),
        ("whsec_%%%", "not base64"),
        ("whsec_" + base64.b64encode(b"x" * 8).decode(), "8 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "65 bytes"),
    ],
)
def test_a_secret_must_be_whsec_and_24_to_64_bytes(secret, problem):
    with pytest.raises(UsageError, match=problem):
        checked_secret(secret)
    assert checked_secret(new_secret())


def test_subscribe_stores_url_and_secret_and_generates_one_when_not_given(ssm):
    done = subscribe(ssm, CONFIG, "demo", "https://hooks.example.com/cb")
    assert done.generated_secret and done.generated_secret.startswith("whsec_")
    stored = ssm.get_parameter(Name="/hookstack/test/callbacks/demo/secret", WithDecryption=True)["Parameter"]
    assert stored["Type"] == "SecureString" and stored["Value"] == done.generated_secret
    given = new_secret()
    assert subscribe(ssm, CONFIG, "demo", "https://other.example.com/cb", given).generated_secret is None
    assert [s.as_dict() for s in list_subscriptions(ssm, CONFIG)] == [
        {"tenant": "demo", "url": "https://other.example.com/cb"}
    ]
    assert unsubscribe(ssm, CONFIG, "demo") is True and list_subscriptions(ssm, CONFIG) == []
    assert unsubscribe(ssm, CONFIG, "demo") is False


def test_subscriptions_never_prints_a_secret(ssm, monkeypatch, isolated_home):
    secret = new_secret()
    subscribe(ssm, HookstackConfig(), "demo", "https://hooks.example.com/cb", secret)
    outputs = type("Outputs", (), {"client": staticmethod(lambda service: ssm)})()
    monkeypatch.setattr("stack.deploy.outputs.load_outputs", lambda target, stage=None: outputs)
    runner = CliRunner()
    for args in (["subscriptions"], ["subscriptions", "--json"]):
        result = runner.invoke(command_line(), args)
        assert result.exit_code == 0, result.output
        assert "https://hooks.example.com/cb" in result.output and secret not in result.output
    # A generated secret is printed, once: by the subscribe that made it.
    made = runner.invoke(command_line(), ["subscribe", "--tenant", "demo", "--url", "https://h.example.com/cb"])
    stored = ssm.get_parameter(Name="/hookstack/dev/callbacks/demo/secret", WithDecryption=True)["Parameter"]
    assert made.exit_code == 0 and stored["Value"] in made.output
    assert stored["Value"] not in runner.invoke(command_line(), ["subscriptions"]).output


def test_dead_callbacks_are_listed_and_replayed_to_the_callback_queue(moto_aws):
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="callbacks")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="callbacks-dlq")["QueueUrl"]
    for event_id in ("msg_a", "msg_b"):
        attributes = {"tenant": "demo", "event_id": event_id}
        sqs.send_message(
            QueueUrl=dlq,
            MessageBody=f'{{"id": "{event_id}"}}',
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
    assert sorted(c.event_id or "" for c in list_dead_callbacks(sqs, dlq)) == ["msg_a", "msg_b"]
    dry = replay_callbacks(sqs, queue, dlq, ids=["msg_a"], dry_run=True)
    assert (dry.would_replay, dry.replayed) == (1, 0)
    done = replay_callbacks(sqs, queue, dlq, ids=["msg_a", "msg_x"])
    assert done.replayed_ids == ["msg_a"] and done.not_found == ["msg_x"]
    (message,) = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"]
    assert message["Body"] == '{"id": "msg_a"}'
    assert {k: v["StringValue"] for k, v in message["MessageAttributes"].items()} == {
        "tenant": "demo",
        "event_id": "msg_a",
    }
    assert [c.event_id for c in list_dead_callbacks(sqs, dlq)] == ["msg_b"]
