"""`hookstack up` / `down` on the embedded target: emulator + deploy + data plane, and back."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from stack.config import HookstackConfig
from stack.deploy.cloudformation import Deployment, Progress, deploy, function_names
from stack.deploy.outputs import StackOutputs, outputs_path, save_outputs
from stack.deploy.targets import EmbeddedTarget, Target
from stack.embedded import function_logs
from stack.embedded.emulator import Emulator, port_is_free
from stack.embedded.interpreters import FunctionsPython, prepare_runtime_dir, resolve
from stack.embedded.processes import pid_alive, stop_group
from stack.errors import HookstackError, NoApiError
from stack.home import build_dir, hookstack_home

GATEWAYS = ("hookstack", "ministack")
# Who serves the stack's SQS event source mappings: hookstack's event plane (scales per message
# group as Lambda does) or the emulator's own poller (one batch at a time), for comparison.
EVENT_PLANES = ("hookstack", "ministack")


@dataclass
class UpResult:
    outputs: StackOutputs
    deployment: Deployment
    emulator_ready_s: float
    gateway_ready_s: float
    total_s: float
    redeployed: bool = False  # the emulator was already running: deployed in place, same endpoint


def outputs_from_stack(
    target: Target,
    config: HookstackConfig,
    outs: dict[str, str],
    *,
    api_url: str | None,
    gateway: str,
    artifacts_bucket: str,
    log_dir: Path | None = None,
    functions_python: FunctionsPython | None = None,
) -> StackOutputs:
    return StackOutputs(
        target=target.name,
        stage=config.stage,
        region=target.region,
        stack_name=config.stack_name,
        api_id=outs.get("ApiId"),  # none: the stage has no API (no pattern has a route)
        api_url=api_url.rstrip("/") if api_url is not None else None,
        gateway=gateway,
        endpoint_url=target.endpoint_url,
        profile=target.profile,
        patterns=list(config.patterns),
        artifacts_bucket=artifacts_bucket,
        function_names=function_names(outs),
        resources=outs,
        log_dir=log_dir,
        functions_python=functions_python,
    )


def functions_python_for(config: HookstackConfig, runtimes_dir: Path) -> FunctionsPython:
    """The interpreter this deploy's functions run on (resolved once per deploy), with its runtime
    directory made for hookstack's environments and MiniStack's executor alike."""
    from stack.embedded.gateway.environment import RUNTIME_PROVIDED_PACKAGES

    return prepare_runtime_dir(resolve(config.runtime), runtimes_dir, RUNTIME_PROVIDED_PACKAGES)


def dropped_patterns(config: HookstackConfig) -> list[str]:
    """Patterns the stage has deployed that this deployment leaves out: the change set deletes them."""
    saved = outputs_path(EmbeddedTarget.name, config.stage)
    try:
        deployed = json.loads(saved.read_text()).get("patterns", [])
    except (OSError, ValueError):
        return []
    return [name for name in deployed if name not in config.patterns]


def _gateway_state_file(home: Path, stage: str) -> Path:
    # One data plane per stage: several stages can share the emulator (e.g. a baseline stack).
    return home / "embedded" / f"gateway-{stage}.json"


def _start_gateway(
    endpoint_url: str,
    api_id: str,
    config: HookstackConfig,
    home: Path,
    port: int = 0,
    event_plane: str = "hookstack",
    python: str | None = None,
) -> tuple[str, float]:
    from stack.embedded import gateway  # the embedded data plane; imported only when it is used

    started = time.monotonic()
    state_dir = home / "embedded" / f"gateway-{config.stage}"
    # Not tied to this process: the data plane outlives `hookstack up` until `hookstack down`.
    process = gateway.launch(
        endpoint_url=endpoint_url,
        rest_api_id=api_id,
        stage=config.stage,
        stack_name=config.stack_name if event_plane == "hookstack" else None,
        log_dir=_log_dir(home, config.stage),
        state_dir=state_dir,
        region=config.region,
        port=port,
        exit_with_parent=False,
        python=python,
    )
    _gateway_state_file(home, config.stage).write_text(
        json.dumps({"pid": process.pid, "url": process.url, "port": process.port})
    )
    return process.url, time.monotonic() - started


def _event_plane_state_file(home: Path, stage: str) -> Path:
    return home / "embedded" / f"event-plane-{stage}.json"


def _start_event_plane_alone(endpoint_url: str, config: HookstackConfig, home: Path, python: str | None) -> list[str]:
    """The event plane without a gateway (a stage with no API), until `hookstack down`: the
    mappings it serves."""
    from stack.embedded.event_plane.process import launch  # imported only when it is used

    process = launch(
        endpoint_url,
        config.stack_name,
        _log_dir(home, config.stage),
        home / "embedded" / f"event-plane-{config.stage}",
        region=config.region,
        python=python,
        exit_with_parent=False,
    )
    if not process.mappings:  # nothing to poll (a stream mapping is the emulator's): no idle process
        process.stop()
        return []
    _event_plane_state_file(home, config.stage).write_text(json.dumps({"pid": process.pid}))
    return process.mappings


def _log_dir(home: Path, stage: str) -> Path:
    return function_logs.logs_dir(home, stage)


def _running_gateway_port(state_file: Path) -> int | None:
    """The port of the stage's data plane when one is running: a re-run of `up` keeps it."""
    if not state_file.exists():
        return None
    state = json.loads(state_file.read_text())
    if not pid_alive(state["pid"]):
        return None
    return int(state.get("port") or urlsplit(state["url"]).port or 0) or None


def _check_gateway_port_free(port: int) -> None:
    if not port_is_free(port):
        raise HookstackError(
            f"gateway port {port} is taken by another process: free it, or pick another with --gateway-port"
        )


def _hand_mappings_to_emulator(target: Target, config: HookstackConfig) -> None:
    """Release any claim an event plane killed before it could let go left on the stack's mappings."""
    from stack.embedded.event_plane.claims import release_stack

    release_stack(target.client("lambda"), target.client("cloudformation"), config.stack_name)


def _stop_gateway(state_file: Path) -> None:
    """Stop the data plane process a state file names (a gateway, or an event plane alone)."""
    if not state_file.exists():
        return
    # It leads its own process group, execution environments included.
    stop_group(json.loads(state_file.read_text())["pid"])
    state_file.unlink()


def up(
    config: HookstackConfig,
    *,
    gateway: str = "hookstack",
    port: int | None = None,
    gateway_port: int | None = None,
    event_plane: str = "hookstack",
    progress: Progress = lambda _: None,
) -> UpResult:
    """Start the emulator (or reuse the running one), deploy by change set, (re)start the data plane.

    On a running stack the endpoint does not move: the data plane restarts on the port it had
    (or ``gateway_port``), so a changed handler is served at the same URL after a brief gap."""
    if gateway not in GATEWAYS:
        raise HookstackError(f"unknown gateway {gateway!r}: choose one of {', '.join(GATEWAYS)}")
    if event_plane not in EVENT_PLANES:
        raise HookstackError(f"unknown event plane {event_plane!r}: choose one of {', '.join(EVENT_PLANES)}")
    if event_plane == "hookstack" and gateway != "hookstack":
        event_plane = "ministack"  # the event plane runs beside hookstack's gateway; alone, the emulator polls
    if gateway_port is not None and gateway != "hookstack":
        raise HookstackError("--gateway-port is for the hookstack gateway (ministack uses the emulator's port)")
    started = time.monotonic()
    home = hookstack_home()
    emulator = Emulator(home)
    running = emulator.state()
    if running is not None and port is not None and port != running.port:
        raise HookstackError(
            f"the emulator already runs on port {running.port}: `hookstack down` first to move it to {port}"
        )
    gateway_file = _gateway_state_file(home, config.stage)
    previous_port = _running_gateway_port(gateway_file)
    serve_port = gateway_port or previous_port or 0
    if gateway == "hookstack" and serve_port and serve_port != previous_port:
        _check_gateway_port_free(serve_port)  # before anything changes
    progress("redeploying to the running emulator" if running else "starting the embedded emulator")
    if running:
        dropped = dropped_patterns(config)
        if dropped:
            progress(
                f"removing pattern(s) {', '.join(dropped)} from stage {config.stage}: not selected this time "
                "(keep them in hookstack.toml's `patterns`, or pass --pattern for each)"
            )
    if running is None:  # a new session: the last one's function logs move aside, kept for one more
        function_logs.rotate(home, config.stage)
    state = running or emulator.start(port=port)
    try:
        functions_python = functions_python_for(config, emulator.runtimes_dir)
        target = EmbeddedTarget(
            region=config.region, endpoint_url=state.endpoint_url, functions_python=functions_python
        )
        deployment = deploy(target, config, build_dir(), progress)
        outs = deployment.app.outputs
        # The data plane reads the deployed API and code at start: restart it to serve this deploy.
        _stop_gateway(gateway_file)
        _stop_gateway(_event_plane_state_file(home, config.stage))  # a stage that had no API
        if event_plane == "ministack":
            _hand_mappings_to_emulator(target, config)
        gateway_s = 0.0
        log_dir = None
        api_url: str | None = None
        if "ApiId" not in outs:
            # No API to serve: no gateway; the event plane, which the gateway hosts otherwise, runs alone.
            gateway = "ministack"
            if event_plane == "hookstack":
                mappings = _start_event_plane_alone(
                    state.endpoint_url, config, home, python=functions_python.runtime_python
                )
                log_dir = _log_dir(home, config.stage)
                served = f"the event plane serves {', '.join(mappings)}" if mappings else "no SQS mapping to serve"
            else:
                served = "the emulator polls its queues"
            progress(f"{NoApiError(config.stage, config.patterns)}: no gateway started, {served}")
        elif gateway == "hookstack":
            verb = "restarting" if previous_port else "starting"
            progress(f"{verb} the hookstack gateway" + (f" on port {serve_port}" if serve_port else ""))
            if serve_port:
                _check_gateway_port_free(serve_port)  # the old one has gone: anyone else holding it is not ours
            api_url, gateway_s = _start_gateway(
                state.endpoint_url,
                outs["ApiId"],
                config,
                home,
                port=serve_port,
                event_plane=event_plane,
                python=functions_python.runtime_python,
            )
            log_dir = _log_dir(home, config.stage)
        else:
            api_url = target.invoke_url(outs["ApiId"], config.stage, outs["ApiUrl"])
        function_logs.write_manifest(
            _log_dir(home, config.stage), function_names(outs), gateway=gateway, event_plane=event_plane
        )
    except BaseException:
        if running is None:  # a stack that was running before this `up` is left running
            down(config)
        raise
    outputs = outputs_from_stack(
        target,
        config,
        outs,
        api_url=api_url,
        gateway=gateway,
        artifacts_bucket=deployment.bootstrap.outputs["ArtifactsBucket"],
        log_dir=log_dir,
        functions_python=functions_python,
    )
    save_outputs(outputs)
    emulator_s = 0.0 if running else state.ready_seconds
    elapsed = time.monotonic() - started
    return UpResult(outputs, deployment, emulator_s, gateway_s, elapsed, redeployed=running is not None)


def down(config: HookstackConfig) -> bool:
    """Stop every stage's data plane and the emulator; remove their processes and temporary
    files. True if anything ran."""
    home = hookstack_home()
    for state_file in (*(home / "embedded").glob("gateway-*.json"), *(home / "embedded").glob("event-plane-*.json")):
        _stop_gateway(state_file)
    for state_dir in (*(home / "embedded").glob("gateway-*"), *(home / "embedded").glob("event-plane-*")):
        shutil.rmtree(state_dir, ignore_errors=True)
    was_running = Emulator(home).stop()
    # The function logs stay (`hookstack logs` reads them after the stack is gone); a new `up` rotates them.
    for outputs_file in home.glob("outputs-embedded-*.json"):
        outputs_file.unlink()
    return was_running
