"""`hookstack up` / `down` on the embedded target: emulator + deploy + data plane, and back."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from stack.config import HookstackConfig
from stack.deploy.cloudformation import FUNCTION_KEYS, Deployment, Progress, deploy
from stack.deploy.outputs import StackOutputs, save_outputs
from stack.deploy.targets import EmbeddedTarget, Target
from stack.embedded.emulator import Emulator
from stack.embedded.processes import stop_group
from stack.errors import HookstackError
from stack.home import build_dir, hookstack_home

GATEWAYS = ("hookstack", "ministack")


@dataclass
class UpResult:
    outputs: StackOutputs
    deployment: Deployment
    emulator_ready_s: float
    gateway_ready_s: float
    total_s: float


def outputs_from_stack(
    target: Target,
    config: HookstackConfig,
    outs: dict[str, str],
    *,
    api_url: str,
    gateway: str,
    artifacts_bucket: str,
    log_dir: Path | None = None,
) -> StackOutputs:
    return StackOutputs(
        target=target.name,
        stage=config.stage,
        region=target.region,
        stack_name=config.stack_name,
        api_id=outs["ApiId"],
        api_url=api_url.rstrip("/"),
        gateway=gateway,
        endpoint_url=target.endpoint_url,
        profile=target.profile,
        queue_url=outs["QueueUrl"],
        dlq_url=outs["DlqUrl"],
        events_table=outs["EventsTable"],
        projections_table=outs["ProjectionsTable"],
        payload_bucket=outs["PayloadBucket"],
        artifacts_bucket=artifacts_bucket,
        function_names={name: outs[key] for name, key in FUNCTION_KEYS.items()},
        log_dir=log_dir,
    )


def _gateway_state_file(home: Path, stage: str) -> Path:
    # One data plane per stage: several stages can share the emulator (e.g. a baseline stack).
    return home / "embedded" / f"gateway-{stage}.json"


def _start_gateway(endpoint_url: str, api_id: str, config: HookstackConfig, home: Path) -> tuple[str, float]:
    from stack.embedded import gateway  # the embedded data plane; imported only when it is used

    started = time.monotonic()
    state_dir = home / "embedded" / f"gateway-{config.stage}"
    # Not tied to this process: the data plane outlives `hookstack up` until `hookstack down`.
    process = gateway.launch(
        endpoint_url=endpoint_url,
        rest_api_id=api_id,
        stage=config.stage,
        log_dir=_log_dir(home, config.stage),
        state_dir=state_dir,
        region=config.region,
        exit_with_parent=False,
    )
    _gateway_state_file(home, config.stage).write_text(json.dumps({"pid": process.pid, "url": process.url}))
    return process.url, time.monotonic() - started


def _log_dir(home: Path, stage: str) -> Path:
    return home / "embedded" / "logs" / stage


def _stop_gateway(state_file: Path) -> None:
    if not state_file.exists():
        return
    # The gateway leads its own process group, execution environments included.
    stop_group(json.loads(state_file.read_text())["pid"])
    state_file.unlink()


def up(
    config: HookstackConfig, *, gateway: str = "hookstack", port: int | None = None, progress: Progress = lambda _: None
) -> UpResult:
    if gateway not in GATEWAYS:
        raise HookstackError(f"unknown gateway {gateway!r}: choose one of {', '.join(GATEWAYS)}")
    started = time.monotonic()
    home = hookstack_home()
    emulator = Emulator(home)
    progress("starting the embedded emulator")
    state = emulator.start(port=port)
    target = EmbeddedTarget(region=config.region, endpoint_url=state.endpoint_url)
    try:
        deployment = deploy(target, config, build_dir(), progress)
        outs = deployment.app.outputs
        # A re-run of `up` replaces the data plane with a fresh one.
        _stop_gateway(_gateway_state_file(home, config.stage))
        gateway_s = 0.0
        log_dir = None
        if gateway == "hookstack":
            progress("starting the hookstack gateway")
            api_url, gateway_s = _start_gateway(state.endpoint_url, outs["ApiId"], config, home)
            log_dir = _log_dir(home, config.stage)
        else:
            api_url = target.invoke_url(outs["ApiId"], config.stage, outs["ApiUrl"])
    except BaseException:
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
    )
    save_outputs(outputs)
    return UpResult(outputs, deployment, state.ready_seconds, gateway_s, time.monotonic() - started)


def down(config: HookstackConfig) -> bool:
    """Stop every stage's data plane and the emulator; remove their processes and temporary
    files. True if anything ran."""
    home = hookstack_home()
    for state_file in (home / "embedded").glob("gateway-*.json"):
        _stop_gateway(state_file)
    for state_dir in (home / "embedded").glob("gateway-*"):
        shutil.rmtree(state_dir, ignore_errors=True)
    was_running = Emulator(home).stop()
    shutil.rmtree(home / "embedded" / "logs", ignore_errors=True)
    for outputs_file in home.glob("outputs-embedded-*.json"):
        outputs_file.unlink()
    return was_running
