"""Every SQS event source mapping of one stack, served in one process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.embedded.event_plane import claims
from stack.embedded.event_plane.mappings import MappingSettings, QueueMapping, discover_mappings
from stack.embedded.event_plane.poller import QueuePoller
from stack.embedded.event_plane.queue_client import QueueClient
from stack.embedded.gateway.discovery import emulator_clients
from stack.embedded.gateway.environment import LaunchSettings, prepare_runtime_libs
from stack.embedded.gateway.pool import FunctionPool
from stack.embedded.processes import write_json_atomically

log = logging.getLogger("stack.embedded.event_plane")

SETTINGS_REFRESH_S = 1.0  # how soon an enable/disable or a new BatchSize takes effect
STATS_WRITE_S = 1.0
# Environments a mapped function may have here when nothing smaller is asked for: Lambda's
# account default is 1,000, far beyond what one machine runs. MaximumConcurrency and reserved
# concurrency below this are honoured exactly.
LOCAL_MAX_ENVIRONMENTS = 16


@dataclass(frozen=True, slots=True)
class EventPlaneOptions:
    endpoint_url: str
    stack_name: str
    region: str
    log_dir: Path
    state_dir: Path
    stats_file: Path
    host_site_packages: bool = False
    python: str = sys.executable  # the interpreter functions run on (stack.embedded.interpreters)


def aws_clients(endpoint_url: str, region: str, max_connections: int = 10) -> dict[str, Any]:
    # The long poll (LONG_POLL_S) must fit in the read timeout.
    return emulator_clients(
        endpoint_url, region, ("sqs", "lambda", "cloudformation"), read_timeout_s=30, max_connections=max_connections
    )


def pool_size(function_mappings: list[QueueMapping]) -> int:
    """Environments for one function: what its mappings may use together, within its reserved
    concurrency and the local ceiling."""
    wanted = sum(m.settings.maximum_concurrency for m in function_mappings)
    reserved = function_mappings[0].function.reserved_concurrency
    if reserved is not None:
        wanted = min(wanted, reserved)
    return max(0, min(wanted, LOCAL_MAX_ENVIRONMENTS))


def _open_log(log_dir: Path, function_name: str) -> int:
    log_dir.mkdir(parents=True, exist_ok=True)
    return os.open(log_dir / f"{function_name}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


class EventPlane:
    def __init__(self, options: EventPlaneOptions) -> None:
        self.options = options
        self.pollers: list[QueuePoller] = []
        self.pools: dict[str, FunctionPool] = {}
        self._log_fds: list[int] = []
        self._clients: dict[str, Any] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._claimed: list[str] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        options = self.options
        options.state_dir.mkdir(parents=True, exist_ok=True)
        self._clients = aws_clients(options.endpoint_url, options.region, max_connections=LOCAL_MAX_ENVIRONMENTS * 2)
        mappings = await loop.run_in_executor(
            None, discover_mappings, self._clients, options.stack_name, options.endpoint_url, options.state_dir
        )
        runtime_libs = None if options.host_site_packages else prepare_runtime_libs(options.state_dir)
        settings = LaunchSettings(
            endpoint_url=options.endpoint_url,
            region=options.region,
            state_dir=options.state_dir,
            runtime_libs=runtime_libs,
            python=options.python,
        )
        by_function: dict[str, list[QueueMapping]] = {}
        for mapping in mappings:
            by_function.setdefault(mapping.function.name, []).append(mapping)
        for name, function_mappings in by_function.items():
            fd = _open_log(options.log_dir, name)
            self._log_fds.append(fd)
            self.pools[name] = FunctionPool(
                function_mappings[0].function, settings, fd, size=pool_size(function_mappings)
            )
        receivers = sum(pool.size for pool in self.pools.values()) + 2
        self._executor = ThreadPoolExecutor(max_workers=max(4, receivers * 2), thread_name_prefix="event-plane")
        queue = QueueClient(self._clients["sqs"], self._executor)
        for mapping in mappings:
            # Claim before polling: from here on the emulator's own poller leaves the mapping alone.
            await loop.run_in_executor(None, claims.claim, self._clients["lambda"], mapping.arn)
            self._claimed.append(mapping.arn)
            poller = QueuePoller(mapping, self.pools[mapping.function.name], queue, options.region)
            self.pollers.append(poller)
            poller.start()
            log.info(
                "mapping %s: %s -> %s (%s, batch %d, concurrency up to %d, %s)",
                mapping.label,
                mapping.queue_url,
                mapping.function.name,
                "FIFO" if mapping.fifo else "standard",
                mapping.settings.batch_size,
                poller.concurrency_limit,
                "enabled" if mapping.settings.enabled else "disabled",
            )
        self._tasks = [loop.create_task(self._refresh_settings()), loop.create_task(self._write_stats())]
        self.write_stats()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*(p.stop() for p in self.pollers), return_exceptions=True)
        await asyncio.gather(*(pool.close() for pool in self.pools.values()), return_exceptions=True)
        loop = asyncio.get_running_loop()
        for arn in self._claimed:
            # Hand the mapping back, so an emulator left running polls it again.
            try:
                await loop.run_in_executor(None, claims.release, self._clients["lambda"], arn)
            except Exception as exc:  # noqa: BLE001  (the emulator may already be gone at shutdown)
                log.warning("could not release mapping %s: %r", arn, exc)
        self.write_stats()
        for fd in self._log_fds:
            os.close(fd)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # --- background ---

    async def _refresh_settings(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SETTINGS_REFRESH_S)
            for poller in self.pollers:
                try:
                    raw = await loop.run_in_executor(None, self._read_mapping, poller.mapping.uuid)
                except Exception as exc:  # noqa: BLE001  (keep the last settings until the control plane answers)
                    log.warning("mapping %s: settings not re-read: %r", poller.mapping.label, exc)
                    continue
                poller.update(MappingSettings.from_api(raw))

    def _read_mapping(self, uuid: str) -> dict[str, Any]:
        return self._clients["lambda"].get_event_source_mapping(UUID=uuid)

    async def _write_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_WRITE_S)
            for poller in self.pollers:
                poller.stats.sample_second(poller.receivers)
            self.write_stats()

    def snapshot(self) -> dict[str, Any]:
        return {
            "stack": self.options.stack_name,
            "written_at": round(time.time(), 3),
            "mappings": {
                p.mapping.label: {
                    "uuid": p.mapping.uuid,
                    "queue_url": p.mapping.queue_url,
                    "function": p.mapping.function.name,
                    "fifo": p.mapping.fifo,
                    "enabled": p.settings.enabled,
                    "batch_size": p.settings.batch_size,
                    "maximum_concurrency": p.settings.maximum_concurrency,
                    "concurrency_limit": p.concurrency_limit,
                    "receivers": p.receivers,
                    **p.stats.snapshot(),
                }
                for p in self.pollers
            },
            "functions": {name: pool.snapshot() for name, pool in self.pools.items()},
        }

    def write_stats(self) -> None:
        with contextlib.suppress(OSError):  # figures for readers: a full disk must not stop the plane
            write_json_atomically(self.options.stats_file, self.snapshot())


def read_stats(path: Path) -> dict[str, Any] | None:
    """The last stats an event plane wrote to ``path``, or None."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
