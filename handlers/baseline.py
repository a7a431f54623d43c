"""Trivial handlers for the baseline stack: the least work each hop can do on the same path.

A load benchmark deploys the stack twice on one emulator, once with the real handlers and once
with these, and reports the ratio of their acknowledgement p99: what our handlers add. They keep
the hops' I/O that any implementation needs (the producer still sends to the FIFO queue) and drop
everything else (secrets, signatures, status records, DTOs, idempotency).

``producer_recording_status_handler`` (handler set "baseline-status") adds back exactly one thing,
the real producer's status write (the same ``StatusStore.record_received`` call), so a benchmark
can tell the cost of that second durable write apart from everything else our handlers do.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from functools import cache
from typing import Any

import boto3

from handlers.stores.status_store import EventMeta, StatusStore


@cache
def _sqs():
    return boto3.client("sqs")


def authorizer_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    print(json.dumps({"function": "authorizer", "decision": "allow"}))
    arn = event["methodArn"].split("/")
    return {
        "principalId": "baseline",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "/".join(arn[:2]) + "/*"}],
        },
        "context": {"tenant": "demo", "providers": "shopify,stripe,github"},
    }


@cache
def _status() -> StatusStore:
    return StatusStore(boto3.client("dynamodb"), os.environ["EVENTS_TABLE"])


def _send(event: dict[str, Any]) -> str:
    event_id = uuid.uuid4().hex
    _sqs().send_message(
        QueueUrl=os.environ["QUEUE_URL"],
        MessageBody=event.get("body") or "{}",
        MessageGroupId="baseline",
        MessageDeduplicationId=event_id,
    )
    return event_id


def _accepted(event_id: str) -> dict[str, Any]:
    print(json.dumps({"function": "producer", "event_id": event_id}))
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"id": event_id})}


def producer_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _accepted(_send(event))


def producer_recording_status_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    event_id = _send(event)
    _status().record_received(
        EventMeta(event_id, "demo", "baseline", "baseline", event_id, "baseline"), int(time.time() * 1000)
    )
    return _accepted(event_id)


def worker_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    print(json.dumps({"function": "worker", "records": len(event.get("Records", []))}))
    return {"batchItemFailures": []}


def status_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 404, "body": json.dumps({"message": "baseline stack keeps no status"})}
