"""`hookstack status --wait`: polls until the final status, bounded in time and in count."""

from __future__ import annotations

import json

from stack.cli.delivery import wait_for_final_status
from stack.clients.webhook_client import Response


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class StatusApi:
    """Answers GET /events/{id} with the given statuses in turn (the last one from then on)."""

    def __init__(self, *answers: tuple[int, str | None]) -> None:
        self.answers = list(answers)
        self.reads = 0

    def event_status(self, event_id: str) -> Response:
        code, status = self.answers[min(self.reads, len(self.answers) - 1)]
        self.reads += 1
        body = {"id": event_id, "status": status} if code == 200 else {"message": "event not found"}
        return Response(code, json.dumps(body).encode(), 1.0)


def wait(api: StatusApi, timeout_s: float) -> tuple[Response, bool, FakeClock]:
    clock = FakeClock()
    response, final = wait_for_final_status(api, "evt_x", timeout_s, poll_s=0.5, clock=clock, sleep=clock.sleep)
    return response, final, clock


def test_it_returns_at_the_final_status():
    api = StatusApi((200, "RECEIVED"), (200, "PROCESSING"), (200, "DEAD_LETTERED"))
    response, final, _ = wait(api, 60)
    assert final and response.json()["status"] == "DEAD_LETTERED" and api.reads == 3


def test_it_gives_up_at_the_timeout():
    api = StatusApi((200, "PROCESSING"))
    response, final, clock = wait(api, 3)
    assert not final and response.json()["status"] == "PROCESSING"
    assert clock.now == 3 and api.reads <= 3 / 0.5 + 2


def test_an_unknown_event_ends_the_wait_at_once():
    api = StatusApi((404, None))
    response, final, clock = wait(api, 60)
    assert response.status == 404 and not final and api.reads == 1 and clock.now == 0
