"""The ``aws`` fixture: moto in process (no network) with the handler rigs' tables, DLQ and bucket.

tests/unit/conftest.py imports it, so every unit test can ask for it (a module that defines its own
``aws`` fixture still gets its own).
"""

from __future__ import annotations

import boto3
import pytest

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws  # imported when used, as in tests/unit/conftest.py

    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "hookstack-dev-worker")
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for table in ("events", "projections"):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName="ingest-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="payloads")
        yield type("Aws", (), {"dynamodb": dynamodb, "sqs": sqs, "s3": s3, "dlq_url": dlq_url})
