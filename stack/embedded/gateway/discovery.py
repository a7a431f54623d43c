"""Read the deployed REST API and its functions from the emulator's control planes.

Everything the gateway serves comes from here — API Gateway's ``GetRestApi``,
``GetResources`` (methods embedded), ``GetMethod``, ``GetIntegration``,
``GetAuthorizers`` and ``GetStage``, and Lambda's ``GetFunction`` and
``GetFunctionConcurrency`` — so there is no second, hand-written copy of the API.

Function code: ``GetFunction`` answers ``Code.Location``, a pre-signed-looking URL that
MiniStack serves from its own port (``/_ministack/lambda-code/{account}/{region}/{name}``,
see ``serve_function_code`` in its ``services/lambda_svc.py``). Its host comes from
MiniStack's ``MINISTACK_HOST`` setting (``localhost`` by default), which need not be the
address the emulator was reached on, so the path and query are kept and sent to the
endpoint the gateway was given. The downloaded zip is checked against the function's
``CodeSha256`` before it is unpacked.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stack.embedded.gateway.authorizer import check_identity_source
from stack.embedded.gateway.definition import (
    MAX_INTEGRATION_TIMEOUT_MS,
    ApiSpec,
    AuthorizerSpec,
    FunctionSpec,
    MethodSpec,
    ResourceSpec,
    StageSpec,
)
from stack.embedded.gateway.throttling import limits_from_method_settings
from stack.errors import HookstackError

DEFAULT_AUTHORIZER_TTL_S = 300
_LAMBDA_INTEGRATION_MARKER = ":lambda:path/2015-03-31/functions/"


class DefinitionError(HookstackError):
    """The deployed API cannot be served (missing, or uses something this gateway does not support)."""


class NotSupportedOnTarget(DefinitionError):
    pass


@dataclass(frozen=True, slots=True)
class FunctionRef:
    name: str
    qualifier: str | None

    @property
    def label(self) -> str:
        return self.name if self.qualifier is None else f"{self.name}:{self.qualifier}"


def parse_function_ref(uri: str) -> FunctionRef:
    """Lambda integration/authorizer URI (or function ARN) → function name and qualifier."""
    target = uri
    if _LAMBDA_INTEGRATION_MARKER in uri:
        target = uri.split(_LAMBDA_INTEGRATION_MARKER, 1)[1]
        if target.endswith("/invocations"):
            target = target[: -len("/invocations")]
    if target.startswith("arn:"):
        parts = target.split(":")
        if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
            raise DefinitionError(f"not a Lambda function ARN: {target!r}")
        return FunctionRef(parts[6], parts[7] if len(parts) > 7 and parts[7] else None)
    if not target or "/" in target:
        raise DefinitionError(f"cannot read a Lambda function from {uri!r}")
    name, _, qualifier = target.partition(":")
    return FunctionRef(name, qualifier or None)


def emulator_clients(
    endpoint_url: str, region: str, services: Iterable[str], *, read_timeout_s: float = 60, max_connections: int = 10
) -> dict[str, Any]:
    """boto3 clients of the emulator's control planes, with the dummy credentials it accepts
    (never the caller's own)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region)
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=read_timeout_s,
        max_pool_connections=max_connections,
    )
    return {name: session.client(name, endpoint_url=endpoint_url, config=config) for name in services}


def _clients(endpoint_url: str, region: str) -> tuple[Any, Any, Any]:
    clients = emulator_clients(endpoint_url, region, ("apigateway", "lambda", "sts"))
    return clients["apigateway"], clients["lambda"], clients["sts"]


def discover(endpoint_url: str, rest_api_id: str, stage_name: str, region: str, state_dir: Path) -> ApiSpec:
    """The deployed API ``rest_api_id`` at ``stage_name``, its functions' code unpacked under ``state_dir``."""
    from botocore.exceptions import ClientError

    apigateway, lambda_client, sts = _clients(endpoint_url, region)
    try:
        api = apigateway.get_rest_api(restApiId=rest_api_id)
    except ClientError as exc:
        raise DefinitionError(f"REST API {rest_api_id!r} not found at {endpoint_url}: {exc}") from exc
    try:
        stage_raw = apigateway.get_stage(restApiId=rest_api_id, stageName=stage_name)
    except ClientError as exc:
        raise DefinitionError(f"stage {stage_name!r} of REST API {rest_api_id!r} not found: {exc}") from exc
    stage = read_stage(stage_raw)
    stage.max_request_bytes  # noqa: B018 - refuse a malformed maxRequestBytes now, not per request

    authorizers_raw = apigateway.get_authorizers(restApiId=rest_api_id, limit=500).get("items", [])
    validators_raw = apigateway.get_request_validators(restApiId=rest_api_id, limit=500).get("items", [])
    validators = {v["id"]: v for v in validators_raw}
    models = {m["name"]: m for m in apigateway.get_models(restApiId=rest_api_id, limit=500).get("items", [])}
    resources_raw: list[dict[str, Any]] = []
    for page in apigateway.get_paginator("get_resources").paginate(restApiId=rest_api_id, embed=["methods"]):
        resources_raw.extend(page.get("items", []))

    resources: list[ResourceSpec] = []
    function_refs: dict[str, FunctionRef] = {}
    used_authorizers: set[str] = set()
    for resource in resources_raw:
        methods: dict[str, MethodSpec] = {}
        for verb in sorted((resource.get("resourceMethods") or {}).keys()):
            method = apigateway.get_method(restApiId=rest_api_id, resourceId=resource["id"], httpMethod=verb)
            try:
                integration = apigateway.get_integration(
                    restApiId=rest_api_id, resourceId=resource["id"], httpMethod=verb
                )
            except ClientError as exc:
                raise DefinitionError(f"{verb} {resource['path']} has no integration: {exc}") from exc
            spec, ref = read_method(resource["path"], verb, method, integration, validators, models)
            function_refs[ref.label] = ref
            if spec.authorizer_id:
                used_authorizers.add(spec.authorizer_id)
            methods[verb] = spec
        resources.append(ResourceSpec(id=resource["id"], path=resource["path"], methods=methods))

    authorizers: dict[str, AuthorizerSpec] = {}
    for raw in authorizers_raw:
        if raw["id"] not in used_authorizers:
            continue
        authorizer, ref = read_authorizer(raw)
        authorizers[authorizer.id] = authorizer
        function_refs[ref.label] = ref
    missing = used_authorizers - authorizers.keys()
    if missing:
        raise DefinitionError(f"methods refer to authorizers that do not exist: {sorted(missing)}")

    # Keyed by the reference methods and authorizers use: the name, or name:qualifier.
    functions = {
        label: read_function(lambda_client, ref, endpoint_url, state_dir) for label, ref in function_refs.items()
    }
    account_id = _account_id(functions.values(), sts)
    return ApiSpec(
        id=rest_api_id,
        name=api.get("name", ""),
        region=region,
        account_id=account_id,
        stage=stage,
        resources=tuple(resources),
        authorizers=authorizers,
        functions=functions,
        binary_media_types=tuple(api.get("binaryMediaTypes") or ()),
    )


def read_stage(raw: Mapping[str, Any]) -> StageSpec:
    return StageSpec(
        name=raw["stageName"],
        variables={str(k): str(v) for k, v in (raw.get("variables") or {}).items()},
        throttling=limits_from_method_settings(raw.get("methodSettings")),
        deployment_id=raw.get("deploymentId"),
    )


def read_body_models(
    where: str, method: Mapping[str, Any], validators: Mapping[str, Any], models: Mapping[str, Any]
) -> dict[str, dict[str, Any]] | None:
    """The schemas the method's request validator checks bodies against (content type → schema),
    or None when it has no validator or its validator does not check bodies."""
    validator_id = method.get("requestValidatorId")
    if not validator_id:
        return None
    validator = validators.get(validator_id)
    if validator is None:
        raise DefinitionError(f"{where}: request validator {validator_id!r} does not exist")
    if validator.get("validateRequestParameters"):
        raise NotSupportedOnTarget(f"{where}: request parameter validation is not supported on this target")
    if not validator.get("validateRequestBody"):
        return None
    schemas: dict[str, dict[str, Any]] = {}
    for content_type, model_name in (method.get("requestModels") or {}).items():
        model = models.get(model_name)
        if model is None:
            raise DefinitionError(f"{where}: request model {model_name!r} does not exist")
        try:
            schema = json.loads(model.get("schema") or "{}")
        except ValueError as exc:
            raise DefinitionError(f"{where}: request model {model_name!r} is not JSON: {exc}") from exc
        schemas[content_type] = schema
    return schemas


def read_method(
    path: str,
    verb: str,
    method: Mapping[str, Any],
    integration: Mapping[str, Any],
    validators: Mapping[str, Any] | None = None,
    models: Mapping[str, Any] | None = None,
) -> tuple[MethodSpec, FunctionRef]:
    where = f"{verb} {path}"
    integration_type = integration.get("type")
    uri = integration.get("uri") or ""
    if integration_type != "AWS_PROXY" or _LAMBDA_INTEGRATION_MARKER not in uri:
        raise NotSupportedOnTarget(
            f"{where}: integration {integration_type} {uri!r} is not supported on this target "
            "(the embedded gateway serves Lambda proxy integrations only)"
        )
    authorization = (method.get("authorizationType") or "NONE").upper()
    if authorization not in ("NONE", "CUSTOM"):
        raise NotSupportedOnTarget(f"{where}: authorizationType {authorization} is not supported on this target")
    if method.get("apiKeyRequired"):
        raise NotSupportedOnTarget(f"{where}: API keys (apiKeyRequired) are not supported on this target")
    body_models = read_body_models(where, method, validators or {}, models or {})
    timeout_ms = int(integration.get("timeoutInMillis") or MAX_INTEGRATION_TIMEOUT_MS)
    ref = parse_function_ref(uri)
    spec = MethodSpec(
        http_method=verb,
        authorization_type=authorization,
        authorizer_id=method.get("authorizerId") if authorization == "CUSTOM" else None,
        function_name=ref.label,
        integration_timeout_ms=max(50, min(timeout_ms, MAX_INTEGRATION_TIMEOUT_MS)),
        body_models=body_models,
    )
    if authorization == "CUSTOM" and not spec.authorizer_id:
        raise DefinitionError(f"{where}: authorizationType CUSTOM without authorizerId")
    return spec, ref


def read_authorizer(raw: Mapping[str, Any]) -> tuple[AuthorizerSpec, FunctionRef]:
    kind = (raw.get("type") or "TOKEN").upper()
    name = raw.get("name") or raw["id"]
    if kind not in ("REQUEST", "TOKEN"):
        raise NotSupportedOnTarget(f"authorizer {name!r}: type {kind} is not supported on this target")
    sources = tuple(s.strip() for s in (raw.get("identitySource") or "").split(",") if s.strip())
    if kind == "TOKEN":
        if not sources:
            sources = ("method.request.header.Authorization",)
        if len(sources) != 1 or not sources[0].startswith("method.request.header."):
            raise DefinitionError(f"authorizer {name!r}: a TOKEN authorizer's identity source must be one header")
    for source in sources:
        try:
            check_identity_source(source)
        except ValueError as exc:
            raise NotSupportedOnTarget(f"authorizer {name!r}: {exc}") from exc
    ttl_raw = raw.get("authorizerResultTtlInSeconds")
    ttl = DEFAULT_AUTHORIZER_TTL_S if ttl_raw is None else max(0, int(ttl_raw))
    ref = parse_function_ref(raw.get("authorizerUri") or "")
    return (
        AuthorizerSpec(
            id=raw["id"],
            name=name,
            type=kind,
            function_name=ref.label,
            identity_sources=sources,
            ttl_s=ttl,
            identity_validation_expression=raw.get("identityValidationExpression") or None,
        ),
        ref,
    )


def read_function(lambda_client: Any, ref: FunctionRef, endpoint_url: str, state_dir: Path) -> FunctionSpec:
    from botocore.exceptions import ClientError

    kwargs: dict[str, Any] = {"FunctionName": ref.name}
    if ref.qualifier:
        kwargs["Qualifier"] = ref.qualifier
    try:
        answer = lambda_client.get_function(**kwargs)
    except ClientError as exc:
        raise DefinitionError(f"function {ref.label!r} not found: {exc}") from exc
    config = answer["Configuration"]
    runtime_name = config.get("Runtime") or ""
    if config.get("PackageType", "Zip") != "Zip" or not runtime_name.startswith("python"):
        raise NotSupportedOnTarget(
            f"function {ref.label!r}: {config.get('PackageType')} {runtime_name!r} is not supported on this target "
            "(Python zip functions only)"
        )
    if config.get("Layers"):
        raise NotSupportedOnTarget(f"function {ref.label!r}: layers are not supported on this target")
    try:
        concurrency = lambda_client.get_function_concurrency(FunctionName=ref.name)
        reserved = concurrency.get("ReservedConcurrentExecutions")
    except ClientError:
        reserved = (answer.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    location = (answer.get("Code") or {}).get("Location")
    if not location:
        raise DefinitionError(f"function {ref.label!r}: GetFunction returned no Code.Location")
    code_sha = config.get("CodeSha256") or ""
    code_dir = unpack_code(download_code(location, endpoint_url), code_sha, state_dir / "code", config["FunctionName"])
    return FunctionSpec(
        name=config["FunctionName"],
        arn=config["FunctionArn"],
        handler=config["Handler"],
        runtime=runtime_name,
        timeout_s=float(config.get("Timeout") or 3),
        memory_mb=int(config.get("MemorySize") or 128),
        environment={str(k): str(v) for k, v in ((config.get("Environment") or {}).get("Variables") or {}).items()},
        reserved_concurrency=None if reserved is None else int(reserved),
        code_dir=code_dir,
        code_sha256=code_sha,
        version=config.get("Version") or "$LATEST",
    )


def code_url(location: str, endpoint_url: str) -> str:
    """``Code.Location`` re-pointed at the endpoint the emulator was reached on (path and query kept)."""
    loc = urlsplit(location)
    base = urlsplit(endpoint_url)
    return urlunsplit((base.scheme, base.netloc, loc.path, loc.query, ""))


def download_code(location: str, endpoint_url: str, timeout_s: float = 60.0) -> bytes:
    url = code_url(location, endpoint_url)
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # loopback emulator URL
        return response.read()


def unpack_code(zip_bytes: bytes, code_sha256: str, root: Path, function_name: str) -> Path:
    """Check the zip against ``CodeSha256`` and unpack it once per content into ``root``."""
    digest = hashlib.sha256(zip_bytes).digest()
    if code_sha256 and base64.b64encode(digest).decode() != code_sha256:
        raise DefinitionError(
            f"function {function_name!r}: downloaded code does not match its CodeSha256 "
            "(the emulator served another version of the code)"
        )
    target = root / f"{function_name}-{digest.hex()[:16]}"
    if (target / ".hookstack-unpacked").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{function_name}-", dir=root))
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            archive.extractall(staging)
            for info in archive.infolist():
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    os.chmod(staging / info.filename, mode | 0o400)
        (staging / ".hookstack-unpacked").write_text(digest.hex())
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _account_id(functions: Iterable[FunctionSpec], sts: Any) -> str:
    for function in functions:
        parts = function.arn.split(":")
        if len(parts) > 4 and parts[4]:
            return parts[4]
    return sts.get_caller_identity()["Account"]
