"""The SQS event the event plane builds, and how it reads a function's answer (pure)."""

from __future__ import annotations

import pytest

from stack.embedded.event_plane.mappings import DEFAULT_MAXIMUM_CONCURRENCY, MappingSettings
from stack.embedded.event_plane.records import ReceivedMessage, answer_outcome, sqs_event

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:q.fifo"


def message(n: int, group: str = "g") -> ReceivedMessage:
    return ReceivedMessage.from_api(
        {
            "MessageId": f"m{n}",
            "ReceiptHandle": f"r{n}",
            "Body": f'{{"n": {n}}}',
            "MD5OfBody": "x",
            "Attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": "1700000000000",
                "MessageGroupId": group,
                "MessageDeduplicationId": f"d{n}",
                "SequenceNumber": str(n),
                "SenderId": "000000000000",
                "ApproximateFirstReceiveTimestamp": "1700000000001",
            },
            "MessageAttributes": {"kind": {"StringValue": "order", "DataType": "String"}},
        }
    )


def test_the_event_has_lambdas_documented_sqs_record_shape():
    record = sqs_event([message(1)], QUEUE_ARN, "us-east-1")["Records"][0]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == QUEUE_ARN
    assert record["attributes"]["MessageGroupId"] == "g"
    assert record["attributes"]["SequenceNumber"] == "1"
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "order",
        "dataType": "String",
        "stringListValues": [],
        "binaryListValues": [],
    }


def test_no_failures_deletes_the_whole_batch():
    batch = [message(1), message(2)]
    for answer in (None, {}, {"batchItemFailures": []}, "not a dict"):
        outcome = answer_outcome(batch, answer, report_batch_item_failures=True)
        assert outcome.delete == tuple(batch) and outcome.retry == () and outcome.reason is None


def test_named_failures_are_left_and_the_rest_deleted():
    batch = [message(1), message(2), message(3)]
    outcome = answer_outcome(batch, {"batchItemFailures": [{"itemIdentifier": "m2"}]}, True)
    assert [m.message_id for m in outcome.delete] == ["m1", "m3"]
    assert [m.message_id for m in outcome.retry] == ["m2"]


@pytest.mark.parametrize(
    "failures",
    [
        [{"itemIdentifier": "elsewhere"}],
        [{"itemIdentifier": ""}],
        [{"itemIdentifier": None}],
        [{}],
        ["m1"],
        "m1",
    ],
)
def test_an_answer_naming_no_record_of_the_batch_fails_it_whole(failures):
    batch = [message(1), message(2)]
    outcome = answer_outcome(batch, {"batchItemFailures": failures}, True)
    assert outcome.delete == () and outcome.retry == tuple(batch) and outcome.reason


def test_without_report_batch_item_failures_the_answer_is_ignored():
    batch = [message(1)]
    outcome = answer_outcome(batch, {"batchItemFailures": [{"itemIdentifier": "m1"}]}, False)
    assert outcome.delete == tuple(batch)


def test_mapping_settings_read_from_the_lambda_api():
    settings = MappingSettings.from_api(
        {
            "State": "Disabled",
            "BatchSize": 7,
            "ScalingConfig": {"MaximumConcurrency": 3},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }
    )
    assert settings == MappingSettings(
        enabled=False, batch_size=7, batching_window_s=0.0, maximum_concurrency=3, report_batch_item_failures=True
    )
    default = MappingSettings.from_api({"State": "Enabled"})
    assert default.enabled and default.maximum_concurrency == DEFAULT_MAXIMUM_CONCURRENCY
    assert not default.report_batch_item_failures
