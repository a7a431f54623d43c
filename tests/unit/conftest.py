"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from tests.helpers.moto_aws import aws  # noqa: F401  (moto with the handler rigs' tables, DLQ and bucket)


@pytest.fixture
def moto_aws(monkeypatch):
    """AWS mocked in process (moto): no endpoint or profile from the environment can leak in."""
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield
