"""GET /events/{id}: an event's status for the tenant that sent it (404 for anyone else, with the
same body as for an id that does not exist)."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

from handlers.contract.message import EVENT_ID_PATTERN
from handlers.contract.settings import StatusSettings
from handlers.platform.api_gateway import authorizer_context, json_response, path_parameter
from handlers.platform.aws_clients import client
from handlers.platform.logging_setup import elapsed_ms, function_logger
from handlers.platform.timestamps import iso_from_ms
from handlers.stores.status_store import TIMESTAMP_ATTRIBUTES, StatusStore

logger = function_logger("status")

NOT_FOUND = {"message": "event not found"}


def _integer(value: Any) -> int | None:
    return int(value) if value is not None else None


def status_document(item: Mapping[str, Any]) -> dict[str, Any]:
    timestamps = {}
    for name in TIMESTAMP_ATTRIBUTES:
        if item.get(name) is not None:
            epoch_ms = int(item[name])
            timestamps[name] = {"epoch_ms": epoch_ms, "iso": iso_from_ms(epoch_ms)}
    return {
        "id": item["id"],
        "status": item.get("status"),
        "provider": item.get("provider"),
        "topic": item.get("topic"),
        "reason": item.get("reason"),
        "dead_letter_kind": item.get("dead_letter_kind"),
        "timestamps": timestamps,
        "attempts": _integer(item.get("attempts")) or 0,
        "deliveries": _integer(item.get("deliveries")) or 0,
        "replay_count": _integer(item.get("replay_count")) or 0,
    }


def lookup(store: StatusStore, event: Mapping[str, Any], log: dict[str, Any]) -> dict[str, Any]:
    tenant = str(authorizer_context(event).get("tenant") or "")
    if not tenant:
        return json_response(403, {"message": "no tenant in the request context"})
    event_id = path_parameter(event, "id") or ""
    log["event_id"] = event_id if EVENT_ID_PATTERN.match(event_id) else None
    if not EVENT_ID_PATTERN.match(event_id):
        return json_response(404, NOT_FOUND)
    item = store.get(event_id)
    # Idempotency records share the table but carry no tenant, so they can never match.
    if not item or item.get("tenant") != tenant:
        return json_response(404, NOT_FOUND)
    return json_response(200, status_document(item))


@functools.cache
def _store() -> StatusStore:
    return StatusStore(client("dynamodb"), StatusSettings.from_env().events_table)


def handle(store: StatusStore, event: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    log: dict[str, Any] = {"event_id": None}
    response = lookup(store, event, log)
    logger.info(
        "status",
        extra={"function": "status", "duration_ms": elapsed_ms(started), "status": response["statusCode"], **log},
    )
    return response


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_store(), event)
