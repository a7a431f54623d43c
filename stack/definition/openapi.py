"""The stage's API as one OpenAPI 3.0 document, rendered from the same definition as the template
(``hookstack synth --openapi``), in the shape API Gateway exports it: every route with its path
parameters, body model and documented answers — the function's own and the gateway's — plus the
``x-amazon-apigateway-*`` extensions for the authorizer, the request validator and the integration.
"""

from __future__ import annotations

import copy
from typing import Any

from stack.definition.models import Authorizer, RestApi, Route, StackDefinition

OPENAPI_VERSION = "3.0.1"
BODY_VALIDATOR = "body"

# What API Gateway itself answers, before or instead of the function (docs/gateway.md).
_AUTHORIZER_ANSWERS = {
    401: "no token, or the authorizer refused it (Unauthorized)",
    403: "the authorizer denied the request, or the path is not an API route",
}
_GATEWAY_ANSWERS = {
    413: "body larger than the stage takes (Request Too Long)",
    429: "stage throttle (Too Many Requests)",
    502: "the function failed or answered a malformed response",
    504: "the function did not answer within the integration timeout",
}
_INVALID_BODY = {400: "the body does not hold to the request model (Invalid request body)"}

_MESSAGE_SCHEMA = {"type": "object", "properties": {"message": {"type": "string"}}}


def _schema(model_schema: dict[str, Any]) -> dict[str, Any]:
    """A draft-04 model as an OpenAPI 3.0 schema object: the same keywords, without ``$schema``."""
    schema = copy.deepcopy(model_schema)
    schema.pop("$schema", None)
    return schema


def _security_scheme(authorizer: Authorizer) -> dict[str, Any]:
    in_query = authorizer.identity_query_parameter is not None
    return {
        "type": "apiKey",
        "name": authorizer.identity_query_parameter if in_query else authorizer.identity_header,
        "in": "query" if in_query else "header",
        "x-amazon-apigateway-authtype": "custom",
        "x-amazon-apigateway-authorizer": {
            "type": "request",
            "identitySource": authorizer.identity_source,
            "authorizerResultTtlInSeconds": authorizer.result_ttl_seconds,
            "authorizerUri": f"arn:aws:apigateway:{{region}}:lambda:path/functions/{authorizer.function}/invocations",
        },
    }


def documented_statuses(route: Route) -> dict[int, str]:
    """Every status a caller of ``route`` can get, the gateway's meaning and the function's
    joined where both answer it."""
    sources: list[dict[int, str]] = []
    if route.authorizer is not None:
        sources.append(_AUTHORIZER_ANSWERS)
    if route.request_model is not None:
        sources.append(_INVALID_BODY)
    sources += [_GATEWAY_ANSWERS, dict(route.responses)]
    answers: dict[int, list[str]] = {}
    for source in sources:
        for status, text in source.items():
            answers.setdefault(status, []).append(text)
    return {status: "; ".join(texts) for status, texts in sorted(answers.items())}


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{route.method.lower()}{''.join(p.strip('{}').title() for p in route.path.split('/'))}",
        "responses": {
            str(status): {
                "description": text,
                "content": {"application/json": {"schema": _MESSAGE_SCHEMA if status >= 400 else {"type": "object"}}},
            }
            for status, text in documented_statuses(route).items()
        },
        "x-amazon-apigateway-integration": {
            "type": "aws_proxy",
            "httpMethod": "POST",
            "uri": f"arn:aws:apigateway:{{region}}:lambda:path/functions/{route.function}/invocations",
            "passthroughBehavior": "when_no_match",
        },
    }
    if route.path_parameters:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.path_parameters
        ]
    if route.authorizer is not None:
        operation["security"] = [{route.authorizer: []}]
    if route.request_model is not None:
        model = route.request_model
        operation["requestBody"] = {
            "required": True,
            "content": {model.content_type: {"schema": {"$ref": f"#/components/schemas/{model.name}"}}},
        }
        operation["x-amazon-apigateway-request-validator"] = BODY_VALIDATOR
    return operation


def render_openapi(api: RestApi, *, region: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for route in api.routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
        if route.request_model is not None:
            schemas[route.request_model.name] = _schema(route.request_model.json_schema)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": api.name, "version": api.stage.name},
        "servers": [
            {
                "url": "https://{restApiId}.execute-api." + region + ".amazonaws.com/{basePath}",
                "variables": {"restApiId": {"default": "restApiId"}, "basePath": {"default": api.stage.name}},
            }
        ],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {a.logical_id: _security_scheme(a) for a in api.authorizers},
        },
    }
    if schemas:
        document["x-amazon-apigateway-request-validators"] = {
            BODY_VALIDATOR: {"validateRequestBody": True, "validateRequestParameters": False}
        }
    return document


def stack_openapi(definition: StackDefinition, *, region: str) -> dict[str, Any]:
    """The one API of hookstack's stack."""
    (api,) = definition.apis
    return render_openapi(api, region=region)
