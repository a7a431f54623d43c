"""REQUEST authorizer: a per-tenant API token in one header (or, for providers that deliver to a
bare URL, one query-string parameter), optionally a source-IP allow-list.

API Gateway calls it with headers and request context, never the body. It answers an IAM policy
for the whole stage (``…/{stage}/*``) so one cached result serves both routes, with context
``{tenant, providers}`` for the functions behind it. Unknown token → Deny (403); a present but
empty/malformed token → ``Exception("Unauthorized")`` (API Gateway answers 401). Tokens are
never logged.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from typing import Any

from handlers.contract.settings import AuthorizerSettings
from handlers.platform.api_gateway import lowercase_headers, query_parameter
from handlers.platform.logging_setup import elapsed_ms, function_logger
from handlers.platform.parameter_store import ssm_provider
from handlers.stores.tenant_directory import TenantDirectory

logger = function_logger("authorizer")

# Visible ASCII, no spaces, bounded: anything else cannot be a token we issued.
_TOKEN_SHAPE = re.compile(r"^[\x21-\x7e]{1,512}$")


class Unauthorized(Exception):
    """Raised with the exact message API Gateway maps to 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def stage_resource(method_arn: str) -> str:
    """``arn:aws:execute-api:{region}:{account}:{api}/{stage}/{verb}/{path}`` → ``…/{api}/{stage}/*``."""
    prefix, _, rest = method_arn.partition(":execute-api:")
    parts = rest.split("/")
    if not prefix or len(parts) < 2:
        return method_arn
    return f"{prefix}:execute-api:{parts[0]}/{parts[1]}/*"


def policy(principal: str, effect: str, resource: str, context: Mapping[str, str] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        document["context"] = dict(context)
    return document


class TokenAuthorizer:
    def __init__(self, directory: TenantDirectory, identity_header: str, identity_query_parameter: str | None = None):
        self._directory = directory
        self._header = identity_header.lower()
        self._query_parameter = identity_query_parameter

    def _token(self, event: Mapping[str, Any]) -> str:
        if self._query_parameter is not None:
            return (query_parameter(event, self._query_parameter) or "").strip()
        return (lowercase_headers(event).get(self._header) or "").strip()

    def authorize(self, event: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """→ (policy, log fields). Raises :class:`Unauthorized` for a missing/malformed token."""
        token = self._token(event)
        if not _TOKEN_SHAPE.match(token):
            raise Unauthorized()
        resource = stage_resource(str(event.get("methodArn", "")))
        tenant = self._directory.find(token)
        if tenant is None:
            return policy("anonymous", "Deny", resource), {"status": "deny", "reason": "unknown token"}
        source_ip = ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp")
        if not tenant.allows_source(source_ip):
            return (
                policy(tenant.name, "Deny", resource),
                {"status": "deny", "reason": "source ip not allowed", "tenant": tenant.name, "source_ip": source_ip},
            )
        context = {"tenant": tenant.name, "providers": ",".join(tenant.providers)}
        return policy(tenant.name, "Allow", resource, context), {"status": "allow", "tenant": tenant.name}


@functools.cache
def _authorizer() -> TokenAuthorizer:
    settings = AuthorizerSettings.from_env()
    directory = TenantDirectory(ssm_provider, settings.tenant_parameter_path, settings.secret_cache_seconds)
    return TokenAuthorizer(directory, settings.identity_header, settings.identity_query_parameter)


def handle(authorizer: TokenAuthorizer, event: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result, fields = authorizer.authorize(event)
    except Unauthorized:
        logger.info(
            "authorize",
            extra={
                "function": "authorizer",
                "duration_ms": elapsed_ms(started),
                "event_id": None,
                "status": "unauthorized",
            },
        )
        raise
    logger.info(
        "authorize", extra={"function": "authorizer", "duration_ms": elapsed_ms(started), "event_id": None, **fields}
    )
    return result


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_authorizer(), event)
