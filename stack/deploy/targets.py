"""Where a stack runs: the embedded emulator (default), LocalStack, or a real AWS account.

A target gives boto3 clients, the artifact platform its Lambdas need, and the invoke URL form
that actually answers there: one class per target, so what differs between them is stated once.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, ClassVar

import boto3
from botocore.config import Config

from stack.config import HookstackConfig
from stack.deploy.package import Platform, host_platform, lambda_platform, local_platform
from stack.embedded.interpreters import FunctionsPython
from stack.errors import HookstackError

DEFAULT_LOCALSTACK_URL = "http://localhost:4566"
EMULATOR_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def _client_config() -> Config:
    return Config(
        retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32, connect_timeout=5, read_timeout=60
    )


@dataclass
class Target:
    """What every target shares: a region, an optional endpoint, boto3 clients."""

    name: ClassVar[str]
    # Missing tenant tokens and provider secrets are created at deploy (emulators: throwaway values);
    # on AWS they are created only by `hookstack secrets init`, never behind the operator's back.
    creates_missing_secrets: ClassVar[bool] = True
    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    _session: Any = field(default=None, repr=False)

    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session(region_name=self.region, **EMULATOR_CREDENTIALS)
        return self._session

    def client(self, service: str):
        return self.session().client(service, endpoint_url=self.endpoint_url, config=_client_config())

    def artifact_platform(self, config: HookstackConfig) -> Platform:
        return lambda_platform(config.runtime, config.architecture)

    def invoke_url(self, api_id: str, stage: str, aws_url: str) -> str:
        """The API base URL in the form this target serves (no trailing slash)."""
        return f"{self.endpoint_url}/_aws/execute-api/{api_id}/{stage}"

    def check_reachable(self) -> None:
        """Fail in one clear line when the target cannot be used at all."""

    def check_running(self) -> None:
        """Fail in one clear line when a stack saved for this target can no longer be reached here."""


@dataclass
class EmbeddedTarget(Target):
    name: ClassVar[str] = "embedded"
    # The interpreter the functions run on (`hookstack up` resolves it once per deploy); None: the host's.
    functions_python: FunctionsPython | None = None

    def artifact_platform(self, config: HookstackConfig) -> Platform:
        if self.functions_python is not None and self.functions_python.declared:
            return local_platform(self.functions_python.minor)
        return host_platform()  # the host interpreter stands in for the declared runtime

    def check_running(self) -> None:
        from stack.embedded.emulator import Emulator  # local import: only the embedded target needs it
        from stack.home import hookstack_home

        if Emulator(hookstack_home()).state() is None:
            raise HookstackError("the embedded emulator is not running: run `hookstack up`")


@dataclass
class LocalStackTarget(Target):
    name: ClassVar[str] = "localstack"

    def check_reachable(self) -> None:
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


@dataclass
class AwsTarget(Target):
    name: ClassVar[str] = "aws"
    creates_missing_secrets: ClassVar[bool] = False

    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session(profile_name=self.profile, region_name=self.region)
        return self._session

    def invoke_url(self, api_id: str, stage: str, aws_url: str) -> str:
        return aws_url

    def check_reachable(self) -> None:
        try:
            credentials = self.session().get_credentials()
        except Exception as exc:  # noqa: BLE001 - botocore raises several profile errors
            raise HookstackError(f"aws: {exc}") from None
        if credentials is None:
            raise HookstackError(
                "aws: no credentials found "
                "(set a profile with --profile, or AWS_PROFILE / the default credential chain)"
            )


TARGET_CLASSES: dict[str, type[Target]] = {cls.name: cls for cls in (EmbeddedTarget, LocalStackTarget, AwsTarget)}
TARGETS: tuple[str, ...] = tuple(TARGET_CLASSES)


def target_named(name: str, *, region: str, endpoint_url: str | None = None, profile: str | None = None) -> Target:
    """The target of that name, as saved in a stack's outputs (no defaults applied)."""
    if name not in TARGET_CLASSES:
        raise HookstackError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    return TARGET_CLASSES[name](region=region, endpoint_url=endpoint_url, profile=profile)


def make_target(
    name: str,
    *,
    config: HookstackConfig | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    region: str | None = None,
) -> Target:
    """Build a target. The embedded endpoint comes from the running emulator (see ``hookstack up``)."""
    if name not in TARGET_CLASSES:
        raise HookstackError(f"unknown target {name!r}: choose one of {', '.join(TARGETS)}")
    region = region or (config.region if config else "us-east-1")
    if name == LocalStackTarget.name:
        endpoint_url = endpoint_url or os.environ.get("LOCALSTACK_ENDPOINT", DEFAULT_LOCALSTACK_URL)
    if name == AwsTarget.name and endpoint_url:
        raise HookstackError("--endpoint-url is for emulators; the aws target uses AWS's own endpoints")
    return target_named(name, region=region, endpoint_url=endpoint_url, profile=profile)
