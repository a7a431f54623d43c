"""The gateway process: read the deployed API, open the pools, listen, shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from stack.embedded.event_plane.plane import read_stats as read_event_plane_stats
from stack.embedded.event_plane.process import EventPlaneProcess
from stack.embedded.event_plane.process import launch as launch_event_plane
from stack.embedded.gateway.discovery import discover
from stack.embedded.gateway.environment import LaunchSettings, prepare_runtime_libs
from stack.embedded.gateway.gateway import Gateway
from stack.embedded.gateway.http_server import ConnectionLimiter, HttpLimits, HttpServerProtocol
from stack.embedded.gateway.pool import FunctionPool
from stack.embedded.interpreters import probe
from stack.embedded.processes import watch_parent, write_json_atomically

log = logging.getLogger("stack.embedded.gateway")


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    endpoint_url: str
    rest_api_id: str
    stage: str
    log_dir: Path
    ready_file: Path
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    region: str = "us-east-1"
    host_site_packages: bool = False  # True: functions also see this interpreter's installed packages
    exit_with_parent: bool = False
    http_limits: HttpLimits = HttpLimits()  # timeouts, connection cap, head limits (docs/gateway.md)
    # Also serve this stack's SQS event source mappings (hookstack's event plane, a child process).
    stack_name: str | None = None
    python: str = sys.executable  # the interpreter functions run on (stack.embedded.interpreters)


def open_function_log(log_dir: Path, function_name: str) -> int:
    """``<log_dir>/<function>.log`` in append mode: every environment writes whole lines to it."""
    log_dir.mkdir(parents=True, exist_ok=True)
    return os.open(log_dir / f"{function_name}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


async def serve(options: GatewayOptions) -> None:
    loop = asyncio.get_running_loop()
    options.state_dir.mkdir(parents=True, exist_ok=True)
    api = await loop.run_in_executor(
        None, discover, options.endpoint_url, options.rest_api_id, options.stage, options.region, options.state_dir
    )
    runtime_libs = None if options.host_site_packages else prepare_runtime_libs(options.state_dir)
    settings = LaunchSettings(
        endpoint_url=options.endpoint_url,
        region=options.region,
        state_dir=options.state_dir,
        runtime_libs=runtime_libs,
        python=options.python,
    )
    log_fds: dict[str, int] = {}
    pools: dict[str, FunctionPool] = {}
    for label, function in api.functions.items():
        if function.name not in log_fds:
            log_fds[function.name] = open_function_log(options.log_dir, function.name)
        pools[label] = FunctionPool(function, settings, log_fds[function.name])
    gateway = Gateway(api, pools)
    event_plane = None
    if options.stack_name is not None:
        event_plane = await loop.run_in_executor(None, _start_event_plane, options)
        gateway.event_plane_stats = lambda: read_event_plane_stats(event_plane.stats_file)

    limiter = ConnectionLimiter(options.http_limits)

    def connection() -> HttpServerProtocol:
        return HttpServerProtocol(
            gateway.handle, gateway.max_request_bytes, gateway.too_large, gateway.internal_error, limiter
        )

    server = await loop.create_server(
        connection,
        options.host,
        options.port,
        reuse_address=True,
        backlog=1024,
    )
    port = server.sockets[0].getsockname()[1]
    url = f"http://{options.host}:{port}/{options.stage}"
    for resource in api.resources:
        for verb, method in resource.methods.items():
            auth = f" (authorizer {api.authorizers[method.authorizer_id].name})" if method.authorizer_id else ""
            log.info("route %s %s -> %s%s", verb, resource.path, method.function_name, auth)
    functions_runtime = await loop.run_in_executor(None, _runtime_of, options.python)
    for label, pool in pools.items():
        log.info(
            "function %s: pool of %d, timeout %.0f s, code %s",
            label,
            pool.size,
            pool.function.timeout_s,
            pool.function.code_dir,
        )
        if pool.function.runtime != functions_runtime:
            log.warning(
                "function %s declares %s but runs on %s (%s): compiled packages in its zip must be built for it",
                label,
                pool.function.runtime,
                options.python,
                functions_runtime,
            )
    log.info("serving REST API %s stage %s at %s", api.id, options.stage, url)

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = loop.create_task(watch_parent(stop, log)) if options.exit_with_parent else None
    write_json_atomically(options.ready_file, {"url": url, "port": port, "pid": os.getpid()})
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if watcher is not None:
            watcher.cancel()
        server.close()
        if event_plane is not None:
            await loop.run_in_executor(None, event_plane.stop)
        await asyncio.gather(*(pool.close() for pool in pools.values()), return_exceptions=True)
        for fd in log_fds.values():
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            options.ready_file.unlink()


def _start_event_plane(options: GatewayOptions) -> EventPlaneProcess:
    assert options.stack_name is not None
    plane = launch_event_plane(
        options.endpoint_url,
        options.stack_name,
        options.log_dir,
        options.state_dir / "event-plane",
        region=options.region,
        host_site_packages=options.host_site_packages,
        python=options.python,
    )
    log.info("event plane (pid %d) polls %s", plane.pid, ", ".join(plane.mappings) or "no SQS mapping")
    return plane


def _runtime_of(python: str) -> str:
    """``python3.12`` for the interpreter ``python`` (this one's without running it)."""
    if python == sys.executable:
        return f"python{sys.version_info.major}.{sys.version_info.minor}"
    answer = probe(python)
    return answer if isinstance(answer, str) else "python" + ".".join(answer[0].split(".")[:2])


def run(options: GatewayOptions) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        asyncio.run(serve(options))
    else:
        uvloop.run(serve(options))
