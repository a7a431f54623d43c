"""The deployed REST API as the gateway serves it: typed, read once from the emulator.

Nothing here is written by hand: :mod:`stack.embedded.gateway.discovery` fills these from the
API Gateway and Lambda control planes, so the gateway serves exactly what was deployed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stack.embedded.gateway.throttling import ThrottleLimits

# API Gateway's hard payload limit (10 MB) and integration timeout (29 s).
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
MAX_INTEGRATION_TIMEOUT_MS = 29_000
# The stage variable a stack may set to declare a smaller request limit.
MAX_REQUEST_BYTES_VARIABLE = "maxRequestBytes"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str
    runtime: str
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]
    reserved_concurrency: int | None
    code_dir: Path
    code_sha256: str
    version: str = "$LATEST"


@dataclass(frozen=True, slots=True)
class AuthorizerSpec:
    id: str
    name: str
    type: str  # REQUEST | TOKEN
    function_name: str
    identity_sources: tuple[str, ...]
    ttl_s: int
    identity_validation_expression: str | None = None


@dataclass(frozen=True, slots=True)
class MethodSpec:
    http_method: str
    authorization_type: str  # NONE | CUSTOM
    authorizer_id: str | None
    function_name: str
    integration_timeout_ms: int = MAX_INTEGRATION_TIMEOUT_MS
    # Set when a request validator checks the body: content type → the model's JSON schema.
    body_models: dict[str, dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    id: str
    path: str
    methods: dict[str, MethodSpec]


@dataclass(frozen=True, slots=True)
class StageSpec:
    name: str
    variables: dict[str, str]
    throttling: dict[str, ThrottleLimits]
    deployment_id: str | None = None

    @property
    def max_request_bytes(self) -> int:
        """10 MB, or the smaller limit the stack declared as stage variable ``maxRequestBytes``."""
        declared = self.variables.get(MAX_REQUEST_BYTES_VARIABLE)
        if declared is None:
            return MAX_PAYLOAD_BYTES
        try:
            value = int(declared)
        except ValueError as exc:
            raise ValueError(f"stage variable {MAX_REQUEST_BYTES_VARIABLE}={declared!r} is not an integer") from exc
        if value <= 0:
            raise ValueError(f"stage variable {MAX_REQUEST_BYTES_VARIABLE}={declared!r} must be positive")
        return min(value, MAX_PAYLOAD_BYTES)


@dataclass(frozen=True, slots=True)
class ApiSpec:
    id: str
    name: str
    region: str
    account_id: str
    stage: StageSpec
    resources: tuple[ResourceSpec, ...]
    authorizers: dict[str, AuthorizerSpec]
    functions: dict[str, FunctionSpec]
    binary_media_types: tuple[str, ...] = field(default=())
