"""A deployed stack's outputs, kept in ``<home>/outputs-<target>-<stage>.json`` so every other
command (send, status, load, chaos, dlq) finds the stack; and the secrets those commands read."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from stack.config import load_config
from stack.deploy.targets import Target, target_named
from stack.errors import HookstackError
from stack.home import hookstack_home


class StackOutputs(BaseModel):
    """What a deployed stack exposes to the CLI, load tests and drills."""

    target: str
    stage: str
    region: str
    stack_name: str
    api_id: str
    api_url: str
    gateway: str  # "hookstack" (embedded data plane), "ministack", "localstack" or "aws"
    endpoint_url: str | None = None
    profile: str | None = None
    queue_url: str
    dlq_url: str
    events_table: str
    projections_table: str
    payload_bucket: str
    artifacts_bucket: str
    function_names: dict[str, str]
    log_dir: Path | None = None

    def as_target(self) -> Target:
        return target_named(self.target, region=self.region, endpoint_url=self.endpoint_url, profile=self.profile)

    def client(self, service: str):
        return self.as_target().client(service)


def outputs_path(target: str, stage: str) -> Path:
    return hookstack_home() / f"outputs-{target}-{stage}.json"


def save_outputs(outputs: StackOutputs) -> Path:
    path = outputs_path(outputs.target, outputs.stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(outputs.model_dump_json(indent=2))
    return path


def forget_outputs(target: str, stage: str) -> None:
    outputs_path(target, stage).unlink(missing_ok=True)


def load_outputs(target: str = "embedded", stage: str | None = None) -> StackOutputs:
    stage = stage or load_config().stage
    path = outputs_path(target, stage)
    if not path.exists():
        hint = "hookstack up" if target == "embedded" else f"hookstack deploy --target {target}"
        raise HookstackError(f"no {target} stack for stage {stage!r} is deployed here: run `{hint}`")
    outputs = StackOutputs(**json.loads(path.read_text()))
    outputs.as_target().check_running()
    return outputs


def _secret(outputs: StackOutputs, name: str) -> str:
    ssm = outputs.client("ssm")
    try:
        return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise HookstackError(f"parameter {name} does not exist on {outputs.target}") from None


def tenant_token(outputs: StackOutputs, tenant: str = "demo") -> str:
    return _secret(outputs, load_config(stage=outputs.stage).tenant_token_parameter(tenant))


def provider_secret(outputs: StackOutputs, provider: str) -> str:
    return _secret(outputs, load_config(stage=outputs.stage).provider_secret_parameter(provider))
