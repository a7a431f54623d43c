"""A sample job handler: insert the job's customer records into the stage's CustomerRecordsTable.

    hookstack consumer --handler stack.jobs_consumer.sample_job:insert_customer_records

``data``: ``records`` (a list of objects, each with an ``id``), optional ``work_seconds`` (a
simulated long job, capped) and ``fail`` (the job is rejected, with that text as the reason).
Each record is one PutItem keyed ``{customer}#{record id}``: a re-run after a crash writes the
same items again and adds none.
"""

from __future__ import annotations

import json
import time
from typing import Any

from stack.jobs_consumer.job import Job

RECORDS_TABLE_OUTPUT = "CustomerRecordsTable"
MAX_WORK_SECONDS = 600.0
MAX_RECORDS = 1000


class JobRejected(Exception):
    """The job asked to fail, or its data is not customer records: it FAILS, with this reason."""


def _record_ids(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    records = data.get("records")
    if not isinstance(records, list):
        raise JobRejected("data.records: expected a list of objects, each with an id")
    if len(records) > MAX_RECORDS:
        raise JobRejected(f"data.records: {len(records)} records, at most {MAX_RECORDS} per job")
    keyed = []
    for index, record in enumerate(records):
        record_id = record.get("id") if isinstance(record, dict) else None
        if isinstance(record_id, bool) or not isinstance(record_id, str | int) or str(record_id) == "":
            raise JobRejected(f"data.records[{index}]: expected an object with a string or integer id")
        keyed.append((str(record_id), record))
    return keyed


def _work_seconds(data: dict[str, Any]) -> float:
    seconds = data.get("work_seconds", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise JobRejected("data.work_seconds: expected a number of seconds, 0 or more")
    return min(float(seconds), MAX_WORK_SECONDS)


def insert_customer_records(job: Job) -> dict[str, Any]:
    if job.data.get("fail"):
        fail = job.data["fail"]
        raise JobRejected(fail if isinstance(fail, str) else "the job asked to fail")
    records = _record_ids(job.data)
    time.sleep(_work_seconds(job.data))
    table = job.resource(RECORDS_TABLE_OUTPUT)
    dynamodb = job.client("dynamodb")
    for record_id, record in records:
        dynamodb.put_item(
            TableName=table,
            Item={
                "id": {"S": f"{job.customer}#{record_id}"},
                "customer": {"S": job.customer},
                "tenant": {"S": job.tenant},
                "record": {"S": json.dumps(record, sort_keys=True, separators=(",", ":"))},
            },
        )
    return {"inserted": len(records)}
