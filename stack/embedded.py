"""`hookstack up` / `down` on the embedded target: emulator + deploy + data plane, and back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from stack.config import HookstackConfig
from stack.deploy import FUNCTION_KEYS, Deployment, Progress, deploy
from stack.emulator import Emulator, pid_alive
from stack.errors import HookstackError
from stack.targets import StackOutputs, Target, forget_outputs, hookstack_home, save_outputs

GATEWAYS = ("hookstack", "ministack")


@dataclass
class UpResult:
    outputs: StackOutputs
    deployment: Deployment
    emulator_ready_s: float
    gateway_ready_s: float
    total_s: float


def outputs_from_stack(target: Target, config: HookstackConfig, outs: dict[str, str], *, api_url: str,
                       gateway: str, artifacts_bucket: str, log_dir: Path | None = None) -> StackOutputs:
    return StackOutputs(
        target=target.name, stage=config.stage, region=target.region, stack_name=config.stack_name,
        api_id=outs["ApiId"], api_url=api_url.rstrip("/"), gateway=gateway,
        endpoint_url=target.endpoint_url, profile=target.profile,
        queue_url=outs["QueueUrl"], dlq_url=outs["DlqUrl"], events_table=outs["EventsTable"],
        projections_table=outs["ProjectionsTable"], payload_bucket=outs["PayloadBucket"],
        artifacts_bucket=artifacts_bucket,
        function_names={name: outs[key] for name, key in FUNCTION_KEYS.items()},
        log_dir=log_dir,
    )


def _gateway_state_file(home: Path) -> Path:
    return home / "embedded" / "gateway.json"


def _start_gateway(endpoint_url: str, api_id: str, config: HookstackConfig, home: Path) -> tuple[str, float]:
    from stack import gateway  # the embedded data plane; imported only when it is used

    started = time.monotonic()
    state_dir = home / "embedded"
    process = gateway.launch(endpoint_url=endpoint_url, rest_api_id=api_id, stage=config.stage,
                             log_dir=state_dir / "logs", state_dir=state_dir)
    _gateway_state_file(home).write_text(json.dumps({"pid": process.pid, "url": process.url}))
    return process.url, time.monotonic() - started


def _stop_gateway(home: Path) -> None:
    state_file = _gateway_state_file(home)
    if not state_file.exists():
        return
    pid = json.loads(state_file.read_text())["pid"]
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    state_file.unlink()


def up(config: HookstackConfig, *, gateway: str = "hookstack", port: int | None = None,
       progress: Progress = lambda _: None) -> UpResult:
    if gateway not in GATEWAYS:
        raise HookstackError(f"unknown gateway {gateway!r}: choose one of {', '.join(GATEWAYS)}")
    started = time.monotonic()
    home = hookstack_home()
    emulator = Emulator(home)
    progress("starting the embedded emulator")
    state = emulator.start(port=port)
    target = Target(name="embedded", region=config.region, endpoint_url=state.endpoint_url)
    try:
        deployment = deploy(target, config, home / "build", progress)
        outs = deployment.app.outputs
        _stop_gateway(home)  # a re-run of `up` replaces the data plane with a fresh one
        gateway_s = 0.0
        log_dir = None
        if gateway == "hookstack":
            progress("starting the hookstack gateway")
            api_url, gateway_s = _start_gateway(state.endpoint_url, outs["ApiId"], config, home)
            log_dir = home / "embedded" / "logs"
        else:
            api_url = target.invoke_url(outs["ApiId"], config.stage, outs["ApiUrl"])
    except BaseException:
        down(config)
        raise
    outputs = outputs_from_stack(target, config, outs, api_url=api_url, gateway=gateway,
                                 artifacts_bucket=deployment.bootstrap.outputs["ArtifactsBucket"],
                                 log_dir=log_dir)
    save_outputs(outputs)
    return UpResult(outputs, deployment, state.ready_seconds, gateway_s, time.monotonic() - started)


def down(config: HookstackConfig) -> bool:
    """Stop the data plane and the emulator; remove their temporary files. True if anything ran."""
    home = hookstack_home()
    _stop_gateway(home)
    was_running = Emulator(home).stop()
    shutil.rmtree(home / "embedded" / "logs", ignore_errors=True)
    forget_outputs("embedded", config.stage)
    return was_running
