"""GET /jobs/{id}: a job's status and result for the tenant that submitted it (404 for anyone
else, with the same body as for a job that does not exist)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from typing import Any

from handlers.contract.settings import JobsTableSettings
from handlers.jobs.contract import JOB_ID_PATTERN
from handlers.jobs.store import JobStore
from handlers.platform.api_gateway import authorizer_context, json_response, path_parameter
from handlers.platform.aws_clients import client
from handlers.platform.logging_setup import elapsed_ms, function_logger
from handlers.platform.timestamps import iso_from_ms

logger = function_logger("jobs-query")

NOT_FOUND = {"message": "job not found"}


def job_document(item: Mapping[str, Any]) -> dict[str, Any]:
    result = item.get("result")
    return {
        "id": item["id"],
        "reference": item.get("reference"),
        "customer": item.get("customer"),
        "type": item.get("job_type"),
        "status": item.get("status"),
        "result": json.loads(result) if isinstance(result, str) else None,
        "reason": item.get("reason"),
        "attachments": item.get("attachments", 0),
        "submitted_at": iso_from_ms(int(item["submitted_at"])) if item.get("submitted_at") else None,
        "updated_at": iso_from_ms(int(item["updated_at"])) if item.get("updated_at") else None,
    }


def lookup(store: JobStore, event: Mapping[str, Any], log: dict[str, Any]) -> dict[str, Any]:
    tenant = str(authorizer_context(event).get("tenant") or "")
    if not tenant:
        return json_response(403, {"message": "no tenant in the request context"})
    job_id = path_parameter(event, "id") or ""
    if not JOB_ID_PATTERN.match(job_id):
        return json_response(404, NOT_FOUND)
    log["job_id"] = job_id
    item = store.get(job_id)
    if not item or item.get("tenant") != tenant:
        return json_response(404, NOT_FOUND)
    return json_response(200, job_document(item))


@functools.cache
def _store() -> JobStore:
    return JobStore(client("dynamodb"), JobsTableSettings.from_env().jobs_table)


def handle(store: JobStore, event: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    log: dict[str, Any] = {"job_id": None}
    response = lookup(store, event, log)
    logger.info(
        "jobs-query",
        extra={"function": "jobs-query", "duration_ms": elapsed_ms(started), "status": response["statusCode"], **log},
    )
    return response


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_store(), event)
