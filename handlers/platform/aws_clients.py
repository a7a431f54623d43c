"""boto3 clients, created on first use and cached for the life of the warm container.

Credentials, region and endpoint (``AWS_ENDPOINT_URL``) come from the default chain, the same on
every target. Timeouts are short and retries bounded: the producer answers a provider that gives
up after 5 s, so a hung connection must fail fast enough to answer 503 and let the provider retry.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

_CLIENT_CONFIG = Config(
    connect_timeout=1,
    read_timeout=3,
    retries={"max_attempts": 3, "mode": "standard"},
    # A warm container reuses connections; a few per service cover the worker's sequential calls.
    max_pool_connections=10,
)


@functools.cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CLIENT_CONFIG)
