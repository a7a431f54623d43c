"""Where a stack runs: the embedded emulator (default), LocalStack, or a real AWS account.

A target gives boto3 clients, the artifact platform its Lambdas need, and the invoke URL form
that actually answers there. Deployed outputs are kept in ``<home>/outputs-<target>-<stage>.json``
so every other command (send, status, load, chaos, dlq) finds the stack.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.config import Config
from pydantic import BaseModel

from stack.config import HookstackConfig, load_config
from stack.deploy.package import Platform, host_platform, lambda_platform
from stack.errors import HookstackError

TargetName = Literal["embedded", "localstack", "aws"]
TARGETS: tuple[str, ...] = ("embedded", "localstack", "aws")
DEFAULT_LOCALSTACK_URL = "http://localhost:4566"
EMULATOR_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def hookstack_home() -> Path:
    return Path(os.environ.get("HOOKSTACK_HOME", ".hookstack")).resolve()


def build_dir() -> Path:
    """Where Lambda artifacts are built and cached. Content-addressed, so several homes (test
    sessions, drill stacks) may share one through ``HOOKSTACK_BUILD_DIR``."""
    return Path(os.environ.get("HOOKSTACK_BUILD_DIR") or hookstack_home() / "build").resolve()


@contextmanager
def use_home(path: Path) -> Iterator[Path]:
    """Run with ``path`` as the hookstack home (a private stack for tests and drills), then restore."""
    previous = os.environ.get("HOOKSTACK_HOME")
    os.environ["HOOKSTACK_HOME"] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop("HOOKSTACK_HOME", None)
        else:
            os.environ["HOOKSTACK_HOME"] = previous


def _client_config() -> Config:
    return Config(
        retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32, connect_timeout=5, read_timeout=60
    )


@dataclass
class Target:
    name: str
    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    _session: Any = field(default=None, repr=False)

    def session(self) -> boto3.Session:
        if self._session is None:
            if self.name == "aws":
                self._session = boto3.Session(profile_name=self.profile, region_name=self.region)
            else:
                self._session = boto3.Session(region_name=self.region, **EMULATOR_CREDENTIALS)
        return self._session

    def client(self, service: str):
        return self.session().client(service, endpoint_url=self.endpoint_url, config=_client_config())

    def artifact_platform(self, config: HookstackConfig) -> Platform:
        # The embedded emulator runs functions on the host interpreter; the others on the runtime.
        if self.name == "embedded":
            return host_platform()
        return lambda_platform(config.runtime, config.architecture)

    def invoke_url(self, api_id: str, stage: str, aws_url: str) -> str:
        """The API base URL in the form this target serves (no trailing slash)."""
        if self.name == "aws":
            return aws_url
        return f"{self.endpoint_url}/_aws/execute-api/{api_id}/{stage}"

    def check_reachable(self) -> None:
        """Fail in one clear line when the target cannot be used at all."""
        if self.name == "aws":
            try:
                credentials = self.session().get_credentials()
            except Exception as exc:  # botocore raises several profile errors
                raise HookstackError(f"aws: {exc}") from None
            if credentials is None:
                raise HookstackError(
                    "aws: no credentials found (set a profile with --profile, "
                    "or AWS_PROFILE / the default credential chain)"
                )
            return
        url = f"{self.endpoint_url}/_localstack/health"
        try:
            with urllib.request.urlopen(url, timeout=3):
                pass
        except urllib.error.HTTPError:
            pass  # something answers HTTP there: the deploy will tell whether it is LocalStack
        except (urllib.error.URLError, OSError) as exc:
            raise HookstackError(
                f"{self.name}: nothing answers at {self.endpoint_url} ({getattr(exc, 'reason', exc)}); start it first"
            ) from None


def make_target(
    name: str,
    *,
    config: HookstackConfig | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    region: str | None = None,
) -> Target:
    """Build a target. The embedded endpoint comes from the running emulator (see ``stack.up``)."""
    if name not in TARGETS:
        raise HookstackError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    region = region or (config.region if config else "us-east-1")
    if name == "localstack":
        endpoint_url = endpoint_url or os.environ.get("LOCALSTACK_ENDPOINT", DEFAULT_LOCALSTACK_URL)
    if name == "aws" and endpoint_url:
        raise HookstackError("--endpoint-url is for emulators; the aws target uses AWS's own endpoints")
    return Target(name=name, region=region, endpoint_url=endpoint_url, profile=profile)


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
        return Target(name=self.target, region=self.region, endpoint_url=self.endpoint_url, profile=self.profile)

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
    if target == "embedded":
        from stack.embedded.emulator import Emulator  # local import: only the embedded target needs it

        if Emulator(hookstack_home()).state() is None:
            raise HookstackError("the embedded emulator is not running: run `hookstack up`")
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
