"""The API Gateway patch hookstack applies to the pinned MiniStack (beside ``patches.py``'s SQS
and Lambda ones, with the same guard).

``apigateway-cfn-request-validator``
    MiniStack 1.5.33 enforces a method's request validator on its own API path (a body failing
    the method's model gets ``400 {"message": "Invalid request body"}`` before the integration
    runs, as AWS does), but its CloudFormation provisioner never creates the validator: the
    ``AWS::ApiGateway::RequestValidator`` handler makes up an id and stores nothing, and the
    ``AWS::ApiGateway::Method`` handler drops ``RequestValidatorId``. A template that validates
    on AWS deploys silently unvalidated (measured: ``get_request_validators`` is empty and the
    method has no ``requestValidatorId``). With the patch the validator is created through
    MiniStack's own CreateRequestValidator, updated in place (flags) or replaced (api, name) as
    AWS does, deleted with the stack, and the method keeps its ``requestValidatorId``. Both API
    paths then validate what was deployed: MiniStack's, and hookstack's gateway, which reads the
    validator and the model from the control plane (``stack.embedded.gateway.discovery``).

What it relies on (MiniStack 1.5.33): ``services.cloudformation.provisioners`` dispatches every
resource through ``_RESOURCE_HANDLERS[type]`` (create/update/delete); ``_apigw_method_update``
re-puts a method through ``_apigw_method_create`` looked up in the module's globals;
``services.apigateway_v1._put_method`` stores ``data["requestValidatorId"]`` on the method and
``_create_request_validator(api_id, data)`` answers ``(201, headers, JSON body with "id")``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

from stack.embedded.ministack.patches import PatchOutcome, installed_ministack_version, source_refusal

REQUEST_VALIDATOR_PATCH = "apigateway-cfn-request-validator"

_VALIDATOR_TYPE = "AWS::ApiGateway::RequestValidator"
_METHOD_TYPE = "AWS::ApiGateway::Method"

_EXPECTED_PROVISIONER_SOURCE_SHA256 = {
    "_apigw_request_validator_create": "f9fe42d289fd7d29250afa351bdb8a29e4c7b45f0ba41fc2ef24974c2dc2ea71",
    "_apigw_request_validator_update": "4d174a8320ff927929bb8806728417fc26c17666cda4de0e0e76ff913ce8ded9",
    "_apigw_request_validator_delete": "a9201af7d25e2a6d07b097c8b1e9eaf1c9df64a0f16186c3abb621ee10d3e1fd",
    "_apigw_method_create": "9460bc3fd7ff0cb69385402e6b689c4e6f569e740df10ef2b3ca84295d7571ad",
    "_apigw_method_update": "dcfd9124eea1e76134136ab379d0aa6821d9cb11c8ef3473a878ed40ba77f4ce",
}
_EXPECTED_APIGATEWAY_SOURCE_SHA256 = {
    "_put_method": "68269dbdc33e9189a3742aea16a2663a83c50bc8d1bf656f2dc47cec08fffb46",
    "_create_request_validator": "c3894407d1b8de39a785cf400be660c5b48c41e62969424b388439ca25004114",
    "_delete_request_validator": "f1e72a6abdf0c47ef2a3de61088e88aa84e388ccd6945d0002b2b6a652d9ce24",
}

# CloudFormation gives booleans as JSON booleans or as the strings "true"/"false".
_TRUE = (True, "true", "True")


def _validator_data(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": props.get("Name", ""),
        "validateRequestBody": props.get("ValidateRequestBody", False) in _TRUE,
        "validateRequestParameters": props.get("ValidateRequestParameters", False) in _TRUE,
    }


def request_validator_handlers(apigateway: ModuleType) -> dict[str, Callable[..., Any]]:
    """CloudFormation create/update/delete for ``AWS::ApiGateway::RequestValidator`` that keep
    the validator in MiniStack's API Gateway store."""

    def create(logical_id: str, props: dict[str, Any], stack_name: str) -> tuple[str, dict[str, str]]:
        api_id = props.get("RestApiId", "")
        status, _, body = apigateway._create_request_validator(api_id, _validator_data(props))
        answer = json.loads(body)
        if status != 201:
            raise ValueError(f"RequestValidator {logical_id}: {answer.get('message', answer)}")
        return answer["id"], {"RequestValidatorId": answer["id"]}

    def update(
        physical_id: str, old_props: dict[str, Any], new_props: dict[str, Any], stack_name: str
    ) -> tuple[str, dict[str, str]]:
        # RestApiId and Name require replacement on AWS; the two flags update in place.
        stored = apigateway._request_validators.get(new_props.get("RestApiId", ""), {}).get(physical_id)
        if stored is None or any(new_props.get(key) != old_props.get(key) for key in ("RestApiId", "Name")):
            created = create(physical_id, new_props, stack_name)
            delete(physical_id, old_props)
            return created
        data = _validator_data(new_props)
        stored["validateRequestBody"] = data["validateRequestBody"]
        stored["validateRequestParameters"] = data["validateRequestParameters"]
        return physical_id, {"RequestValidatorId": physical_id}

    def delete(physical_id: str, props: dict[str, Any]) -> None:
        # Idempotent, as rollback and stack deletion need: a missing validator is already gone.
        apigateway._delete_request_validator(props.get("RestApiId", ""), physical_id)

    return {"create": create, "update": update, "delete": delete}


def method_create_keeping_validator(provisioners: ModuleType, apigateway: ModuleType) -> Callable[..., Any]:
    """MiniStack's method provisioner, then the ``RequestValidatorId`` it drops put on the method."""
    upstream = provisioners._apigw_method_create

    def create(logical_id: str, props: dict[str, Any], stack_name: str) -> Any:
        created = upstream(logical_id, props, stack_name)
        resource = apigateway._resources.get(props.get("RestApiId", ""), {}).get(props.get("ResourceId", ""))
        method = (resource or {}).get("resourceMethods", {}).get(props.get("HttpMethod", "ANY"))
        if method is not None:
            method["requestValidatorId"] = props.get("RequestValidatorId")
        return created

    create.hookstack_patch = REQUEST_VALIDATOR_PATCH  # type: ignore[attr-defined]
    return create


def apply_request_validator_patch(
    provisioners: ModuleType | None = None,
    apigateway: ModuleType | None = None,
    installed_version: str | None = None,
) -> PatchOutcome:
    if provisioners is None or apigateway is None:
        from ministack.services import apigateway_v1
        from ministack.services.cloudformation import provisioners as cfn_provisioners

        provisioners, apigateway = cfn_provisioners, apigateway_v1
    if getattr(provisioners._apigw_method_create, "hookstack_patch", None) == REQUEST_VALIDATOR_PATCH:
        return PatchOutcome(REQUEST_VALIDATOR_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = source_refusal(provisioners, _EXPECTED_PROVISIONER_SOURCE_SHA256, version) or source_refusal(
        apigateway, _EXPECTED_APIGATEWAY_SOURCE_SHA256, version
    )
    if refusal is None and not {_VALIDATOR_TYPE, _METHOD_TYPE} <= set(getattr(provisioners, "_RESOURCE_HANDLERS", {})):
        refusal = "ministack's CloudFormation provisioners no longer dispatch through _RESOURCE_HANDLERS"
    if refusal is not None:
        return PatchOutcome(REQUEST_VALIDATOR_PATCH, False, refusal)
    handlers = provisioners._RESOURCE_HANDLERS
    handlers[_VALIDATOR_TYPE] = {**handlers[_VALIDATOR_TYPE], **request_validator_handlers(apigateway)}
    method_create = method_create_keeping_validator(provisioners, apigateway)
    # The update handler re-puts through the module global; the dispatch table holds its own reference.
    setattr(provisioners, "_apigw_method_create", method_create)  # noqa: B010
    handlers[_METHOD_TYPE] = {**handlers[_METHOD_TYPE], "create": method_create}
    return PatchOutcome(REQUEST_VALIDATOR_PATCH, True, "request validators from CloudFormation are created and bound")
