"""The deployed stage as a consumer machine sees it: its two queues, its outputs and its clients."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from stack.deploy.outputs import StackOutputs

PATTERN = "jobs"


class StageClients:
    """One boto3 client per service, shared by every worker thread. A client is thread-safe once
    made; making one from the target's shared session is not, hence the lock."""

    def __init__(self, make_client: Callable[[str], Any]) -> None:
        self._make_client = make_client
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._make_client(service)
            return self._clients[service]


@dataclass(frozen=True)
class JobsStage:
    jobs_queue_url: str
    results_queue_url: str
    resources: Mapping[str, str]  # every output of the stage's template, by output key
    clients: StageClients = field(repr=False)

    @classmethod
    def from_outputs(cls, outputs: StackOutputs) -> JobsStage:
        """The stage's jobs pattern (a one-line HookstackError when the stage has none)."""
        return cls(
            jobs_queue_url=outputs.resource("JobsQueueUrl", PATTERN),
            results_queue_url=outputs.resource("JobResultsQueueUrl", PATTERN),
            resources=MappingProxyType(dict(outputs.resources)),
            clients=StageClients(outputs.client),
        )

    @property
    def sqs(self) -> Any:
        return self.clients.client("sqs")
