"""The ``aws`` fixture: moto in process (no network) with the handler rigs' tables, DLQ and bucket.

tests/unit/conftest.py imports it, so every unit test can ask for it (a module that defines its own
``aws`` fixture still gets its own).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import boto3
import pytest

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "hookstack-dev-worker")
    with moto_account(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for table in ("events", "projections"):
            create_id_table(dynamodb, table)
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName="ingest-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="payloads")
        yield type("Aws", (), {"dynamodb": dynamodb, "sqs": sqs, "s3": s3, "dlq_url": dlq_url})


@contextlib.contextmanager
def moto_account(monkeypatch) -> Iterator[None]:
    """moto in process, with the test credentials and region and no endpoint or profile of the caller."""
    from moto import mock_aws  # imported when used, as in tests/unit/conftest.py

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", *(f"AWS_ENDPOINT_URL_{s}" for s in ("DYNAMODB", "SQS", "S3"))):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def create_id_table(dynamodb, name: str) -> None:
    """A table keyed by the string ``id``, as every table of the stack is."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
