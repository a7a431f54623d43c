"""Polling a deployed stack's status endpoint until an event reaches a state, bounded in time."""

from __future__ import annotations

import time

from stack.clients.webhook_client import ApiClient


def wait_for_status(api: ApiClient, event_id: str, wanted: set[str], timeout_s: float = 45.0) -> dict:
    """Poll GET /events/{id} until the status is one of ``wanted``; bounded in time."""
    deadline = time.monotonic() + timeout_s
    body: dict = {}
    while time.monotonic() < deadline:
        response = api.event_status(event_id)
        body = response.json()
        if response.status == 200 and body.get("status") in wanted:
            return body
        time.sleep(0.25)
    raise AssertionError(f"{event_id} did not reach {wanted} in {timeout_s}s: last {body}")
