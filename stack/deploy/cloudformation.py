"""Deploy through CloudFormation, one code path for every target.

bootstrap stack (artifacts bucket) → build and upload the Lambda artifact → secrets → the
application stack by change set → wait → outputs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError, WaiterError

from stack.config import HookstackConfig
from stack.definition.app import bootstrap_stack, hookstack_stack
from stack.definition.render import render_template
from stack.deploy.package import artifact_key, build_artifact
from stack.deploy.secrets import ensure_secrets
from stack.deploy.targets import Target
from stack.errors import HookstackError

Progress = Callable[[str], None]
MAX_TEMPLATE_BODY = 51_200  # CloudFormation's TemplateBody limit; larger goes through S3
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
FUNCTION_OUTPUT_SUFFIX = "FunctionName"  # stack.patterns.base.output_name


def function_names(outputs: dict[str, str]) -> dict[str, str]:
    """Each function's short name (``WorkerFunctionName`` → ``worker``, ``JobsIntakeFunctionName``
    → ``jobs-intake``) → its deployed name, from the stack's outputs."""
    names = {}
    for key, value in outputs.items():
        if key.endswith(FUNCTION_OUTPUT_SUFFIX) and key != FUNCTION_OUTPUT_SUFFIX:
            camel = key.removesuffix(FUNCTION_OUTPUT_SUFFIX)
            names[re.sub(r"(?<!^)(?=[A-Z])", "-", camel).lower()] = value
    return names


@dataclass
class StackResult:
    name: str
    outputs: dict[str, str]
    changed: bool
    seconds: float


def _stack_status(cfn, name: str) -> str | None:
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def _failure_reason(cfn, name: str) -> str:
    """The first resource that failed, with its reason: what a user needs after a rollback."""
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return "no stack events"
    failed = [e for e in reversed(events) if e.get("ResourceStatus", "").endswith("_FAILED")]
    for event in failed:
        reason = event.get("ResourceStatusReason", "")
        if "cancelled" not in reason.lower() and "resource creation cancelled" not in reason.lower():
            return f"{event['LogicalResourceId']} ({event.get('ResourceType', '?')}): {reason}"
    return "no failed resource reported"


def _wait(cfn, waiter_name: str, name: str, **kwargs) -> None:
    try:
        cfn.get_waiter(waiter_name).wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 1800}, **kwargs)
    except WaiterError:
        raise HookstackError(f"stack {name} failed: {_failure_reason(cfn, name)}") from None


def ensure_stack(
    cfn, name: str, template: dict, parameters: dict[str, str], template_url: str | None = None
) -> StackResult:
    """Create or update ``name`` by change set and wait for it."""
    started = time.monotonic()
    status = _stack_status(cfn, name)
    if status == "ROLLBACK_COMPLETE":  # a failed first create cannot be updated, only replaced
        cfn.delete_stack(StackName=name)
        _wait(cfn, "stack_delete_complete", name)
        status = None
    if status and status.endswith("_IN_PROGRESS"):
        raise HookstackError(f"stack {name} is busy ({status}); wait for it to finish")
    change_type = "UPDATE" if status else "CREATE"
    change_set = f"hookstack-{int(time.time() * 1000)}"
    source = {"TemplateURL": template_url} if template_url else {"TemplateBody": json.dumps(template)}
    try:
        cfn.create_change_set(
            StackName=name,
            ChangeSetName=change_set,
            ChangeSetType=change_type,
            Capabilities=CAPABILITIES,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            **source,
        )
    except ClientError as exc:
        raise HookstackError(f"stack {name}: change set refused: {exc.response['Error']['Message']}") from None
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set, WaiterConfig={"Delay": 1, "MaxAttempts": 600}
        )
    except WaiterError:
        described = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
            return StackResult(name, stack_outputs(cfn, name), False, time.monotonic() - started)
        raise HookstackError(f"stack {name}: change set failed: {reason}") from None
    cfn.execute_change_set(StackName=name, ChangeSetName=change_set)
    _wait(cfn, "stack_create_complete" if change_type == "CREATE" else "stack_update_complete", name)
    return StackResult(name, stack_outputs(cfn, name), True, time.monotonic() - started)


def stack_outputs(cfn, name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def upload_artifact(s3, bucket: str, artifact: Path) -> str:
    key = artifact_key(artifact)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        s3.upload_file(str(artifact), bucket, key)
    return key


@dataclass
class Deployment:
    app: StackResult
    bootstrap: StackResult
    artifact: Path
    artifact_key: str
    secrets_created: list[str]
    seconds: float


def deploy(target: Target, config: HookstackConfig, build_dir: Path, progress: Progress = lambda _: None) -> Deployment:
    started = time.monotonic()
    target.check_reachable()
    cfn = target.client("cloudformation")
    progress(f"bootstrap stack {config.bootstrap_stack_name}")
    boot = ensure_stack(cfn, config.bootstrap_stack_name, render_template(bootstrap_stack(config)), {})
    bucket = boot.outputs["ArtifactsBucket"]
    platform = target.artifact_platform(config)
    progress(f"building the handler artifact ({platform.key})")
    artifact = build_artifact(platform, build_dir)
    s3 = target.client("s3")
    key = upload_artifact(s3, bucket, artifact)
    progress("secrets")
    created = ensure_secrets(target.client("ssm"), config, create=target.creates_missing_secrets)
    progress(f"application stack {config.stack_name}")
    template = render_template(hookstack_stack(config), runtime=config.runtime, architecture=config.architecture)
    template_url = None
    if len(json.dumps(template)) > MAX_TEMPLATE_BODY:
        template_key = f"templates/{config.stack_name}-{int(time.time())}.json"
        s3.put_object(Bucket=bucket, Key=template_key, Body=json.dumps(template).encode())
        template_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": template_key})
    app = ensure_stack(
        cfn, config.stack_name, template, {"ArtifactBucket": bucket, "ArtifactKey": key}, template_url=template_url
    )
    return Deployment(
        app=app,
        bootstrap=boot,
        artifact=artifact,
        artifact_key=key,
        secrets_created=created,
        seconds=time.monotonic() - started,
    )


def _empty_bucket(s3, bucket: str) -> None:
    try:
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            objects = [
                {"Key": o["Key"], "VersionId": o["VersionId"]}
                for o in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objects:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucket":
            raise


def destroy(target: Target, config: HookstackConfig, progress: Progress = lambda _: None) -> list[str]:
    """Empty the buckets, delete both stacks. Returns the names of the stacks deleted."""
    target.check_reachable()
    cfn = target.client("cloudformation")
    s3 = target.client("s3")
    deleted: list[str] = []
    for name in (config.stack_name, config.bootstrap_stack_name):
        if _stack_status(cfn, name) is None:
            continue
        for bucket in (v for k, v in stack_outputs(cfn, name).items() if k.endswith("Bucket")):
            progress(f"emptying {bucket}")
            _empty_bucket(s3, bucket)
        progress(f"deleting {name}")
        cfn.delete_stack(StackName=name)
        _wait(cfn, "stack_delete_complete", name)
        deleted.append(name)
    return deleted
