"""The base of Locust users that write a DynamoDB table instead of calling an HTTP API (the
``cdc-trickle`` scenario's sources).

Paced and recorded by the same harness as the webhook users: each write claims its slot on the
open-model schedule (``HARNESS.pace()``) and is reported through Locust's request event with the
``hookstack_attempt`` context, so the write latency (from the intended start), the errors and the
rates come out of the same figures. A write's "status" is the HTTP status of DynamoDB's answer
(0: no answer); its acknowledgement id says what was written (``loadtests.model.cdc_traffic``).

A customer's writes never overlap: each insert holds its customer's lock while it is written, so
the order the items reach the table (and the stream) is the order of their ``n``. One process
writes (the CLI refuses ``--processes`` for this scenario): the order is one writer's.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from gevent.lock import BoundedSemaphore
from locust import User

from loadtests.locust.harness import HARNESS, paced
from loadtests.model.cdc_traffic import (
    DEFAULT_GROUPS,
    DELETE,
    INSERT,
    REQUEST_PREFIX,
    STATE_ATTRIBUTE,
    STATE_UPDATED,
    UPDATE,
    UPDATED_AT_ATTRIBUTE,
    SourceWrites,
    ack_id,
    insert_item,
)
from loadtests.report.measurements import Attempt

REQUEST_TYPE = "DynamoDB"
# Standard retries, as a source on the SDK's defaults would write (their time is in the latency).
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30, max_pool_connections=200
)


class _Answer:
    """What the harness reads of an answer: its status and, for a 2xx, the acknowledgement id."""

    def __init__(self, status_code: int, acknowledged: str | None = None, error: BaseException | None = None):
        self.status_code = status_code
        self.content = json.dumps({"id": acknowledged}).encode() if acknowledged else b""
        self.error = error


class _ProcessTable:
    """Shared by the process's users: one client (its pool sized for them), the writes' model and
    one lock per customer."""

    def __init__(self, options: Any) -> None:
        if not options.cdc_table:
            raise ValueError("missing --cdc-table (the stage's source table)")
        groups = HARNESS.params.groups if HARNESS.params and HARNESS.params.groups else DEFAULT_GROUPS
        self.table = options.cdc_table
        self.client = boto3.session.Session().client(
            "dynamodb",
            region_name=options.aws_region or None,
            endpoint_url=options.aws_endpoint_url or None,
            config=CLIENT_CONFIG,
        )
        self.writes = SourceWrites(HARNESS.user_rng(), options.cdc_run_id or "cdc", HARNESS.node_index, groups)
        self.locks = {group: BoundedSemaphore() for group in self.writes.groups}


_TABLE: _ProcessTable | None = None


def _process_table() -> _ProcessTable:
    global _TABLE
    if _TABLE is None:
        _TABLE = _ProcessTable(HARNESS.options)
    return _TABLE


class TableSourceUser(User):
    """Pace on the schedule, write one item (insert, update or delete), let the harness record it."""

    abstract = True
    sends_to_api: ClassVar[bool] = False  # no tenant token needed
    wait_time = paced

    def on_start(self) -> None:
        self.table = _process_table()
        self.last_start: float | None = None

    def insert(self) -> None:
        writes = self.table.writes
        item_id, group = writes.new_insert()
        attempt = HARNESS.pace()
        with self.table.locks[group]:
            position = writes.next_position(group)
            item = insert_item(item_id, group, position, int(time.time() * 1000))
            if self._write(attempt, INSERT, item_id, lambda: self._put(item)):
                writes.inserted(item_id)

    def update(self) -> None:
        """An earlier insert changed (an insert when there is none yet): the capture skips it."""
        item_id = self.table.writes.pick_earlier(remove=False)
        if item_id is None:
            return self.insert()
        attempt = HARNESS.pace()
        self._write(attempt, UPDATE, item_id, lambda: self._update(item_id))
        return None

    def delete(self) -> None:
        """An earlier insert deleted (an insert when there is none yet): the capture skips it."""
        item_id = self.table.writes.pick_earlier(remove=True)
        if item_id is None:
            return self.insert()
        attempt = HARNESS.pace()
        self._write(attempt, DELETE, item_id, lambda: self._delete(item_id))
        return None

    # --- the calls ---

    def _put(self, item: dict[str, Any]) -> Any:
        return self.table.client.put_item(TableName=self.table.table, Item=item)

    def _update(self, item_id: str) -> Any:
        return self.table.client.update_item(
            TableName=self.table.table,
            Key={"id": {"S": item_id}},
            UpdateExpression="SET #state = :state, #at = :at",
            ExpressionAttributeNames={"#state": STATE_ATTRIBUTE, "#at": UPDATED_AT_ATTRIBUTE},
            ExpressionAttributeValues={":state": {"S": STATE_UPDATED}, ":at": {"N": str(int(time.time() * 1000))}},
        )

    def _delete(self, item_id: str) -> Any:
        return self.table.client.delete_item(TableName=self.table.table, Key={"id": {"S": item_id}})

    def _write(self, attempt: Attempt, kind: str, item_id: str, call: Any) -> bool:
        """One write, recorded through Locust's request event; whether DynamoDB acknowledged it."""
        attempt.sent = self.last_start = time.perf_counter()
        HARNESS.measurements.request_started(attempt)
        exception: BaseException | None = None
        try:
            status = int(call()["ResponseMetadata"]["HTTPStatusCode"])
            answer = _Answer(status, ack_id(kind, item_id))
        except ClientError as error:
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            answer, exception = _Answer(status, error=error), error
        except BotoCoreError as error:  # no answer: a timeout, a refused connection
            status, answer, exception = 0, _Answer(0, error=error), error
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=REQUEST_PREFIX + kind,
            response_time=(time.perf_counter() - attempt.sent) * 1000,
            response_length=0,
            response=answer,
            exception=exception,
            context={"hookstack_attempt": attempt},
        )
        return 200 <= status < 300
