"""A deployed stack's outputs, kept in ``<home>/outputs-<target>-<stage>.json`` so every other
command (send, status, load, chaos, dlq) finds the stack; and the secrets those commands read."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stack.config import load_config
from stack.deploy.targets import Target, target_named
from stack.embedded.interpreters import FunctionsPython
from stack.errors import HookstackError, NoApiError
from stack.home import hookstack_home


class StackOutputs(BaseModel):
    """What a deployed stack exposes to the CLI, load tests and drills: where it runs, and every
    output of its template (``resources``, by output key) for the patterns it deployed."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True)

    target: str
    stage: str
    region: str
    stack_name: str
    # None when the stage renders no API (no pattern has a route): read them as ``api_id``/``api_url``.
    deployed_api_id: str | None = Field(None, alias="api_id")
    deployed_api_url: str | None = Field(None, alias="api_url")
    gateway: str  # "hookstack" (embedded data plane), "ministack", "localstack" or "aws"
    endpoint_url: str | None = None
    profile: str | None = None
    patterns: list[str] = ["webhooks"]
    artifacts_bucket: str
    function_names: dict[str, str]  # short name (``worker``, ``jobs-intake``) → deployed name
    resources: dict[str, str] = {}
    log_dir: Path | None = None
    # embedded: the interpreter the functions run on (the declared runtime's, or the host's standing in)
    functions_python: FunctionsPython | None = None

    @property
    def has_api(self) -> bool:
        return self.deployed_api_url is not None

    @property
    def api_id(self) -> str:
        if self.deployed_api_id is None:
            raise NoApiError(self.stage, self.patterns)
        return self.deployed_api_id

    @property
    def api_url(self) -> str:
        """The stage's endpoint; a one-line :class:`NoApiError` when the stage has no API."""
        if self.deployed_api_url is None:
            raise NoApiError(self.stage, self.patterns)
        return self.deployed_api_url

    def resource(self, key: str, pattern: str) -> str:
        """One output of the stack's template, which ``pattern`` renders."""
        try:
            return self.resources[key]
        except KeyError:
            deployed = ", ".join(self.patterns) or "none"
            raise HookstackError(
                f"stage {self.stage!r} on {self.target} has no {pattern} pattern deployed (patterns: {deployed}): "
                f"add it with `hookstack up --pattern {pattern}`"
            ) from None

    # The webhooks pattern's resources, which most commands use.
    @property
    def queue_url(self) -> str:
        return self.resource("QueueUrl", "webhooks")

    @property
    def dlq_url(self) -> str:
        return self.resource("DlqUrl", "webhooks")

    @property
    def events_table(self) -> str:
        return self.resource("EventsTable", "webhooks")

    @property
    def projections_table(self) -> str:
        return self.resource("ProjectionsTable", "webhooks")

    @property
    def payload_bucket(self) -> str:
        return self.resource("PayloadBucket", "webhooks")

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
    try:
        outputs = StackOutputs(**json.loads(path.read_text()))
    except (ValueError, ValidationError):
        hint = "hookstack up" if target == "embedded" else f"hookstack deploy --target {target}"
        raise HookstackError(f"{path} was written by another hookstack version: run `{hint}` again") from None
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
