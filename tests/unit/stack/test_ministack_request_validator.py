"""The request-validator patch: a validator declared in CloudFormation is created and bound to its
method, so MiniStack's own API path (and hookstack's gateway, which reads it) validates bodies."""

from __future__ import annotations

import json
import types

import pytest
from ministack.services import apigateway_v1
from ministack.services.cloudformation import provisioners

from stack.embedded.ministack.apigateway_patches import REQUEST_VALIDATOR_PATCH, apply_request_validator_patch
from stack.embedded.ministack.patches import PINNED_MINISTACK_VERSION

UPSTREAM_METHOD_CREATE = provisioners._apigw_method_create
UPSTREAM_HANDLERS = {key: dict(provisioners._RESOURCE_HANDLERS[key]) for key in provisioners._RESOURCE_HANDLERS}


@pytest.fixture(autouse=True)
def _unpatched(monkeypatch):
    if getattr(UPSTREAM_METHOD_CREATE, "hookstack_patch", None):
        pytest.fail("the provisioners were patched before these tests imported them")
    monkeypatch.setattr(provisioners, "_apigw_method_create", UPSTREAM_METHOD_CREATE)
    for key, handlers in UPSTREAM_HANDLERS.items():
        monkeypatch.setitem(provisioners._RESOURCE_HANDLERS, key, dict(handlers))
    apigateway_v1.reset()
    yield
    apigateway_v1.reset()


def _api_with_resource() -> tuple[str, str]:
    _, _, body = apigateway_v1._create_rest_api({"name": "jobs"})
    api_id = json.loads(body)["id"]
    root = next(iter(apigateway_v1._resources[api_id]))
    _, _, body = apigateway_v1._create_resource(api_id, root, {"pathPart": "jobs"})
    return api_id, json.loads(body)["id"]


def _deploy_validated_method(api_id: str, resource_id: str) -> str:
    handlers = provisioners._RESOURCE_HANDLERS
    validator_id, _ = handlers["AWS::ApiGateway::RequestValidator"]["create"](
        "V", {"RestApiId": api_id, "Name": "body", "ValidateRequestBody": True}, "s"
    )
    handlers["AWS::ApiGateway::Method"]["create"](
        "M",
        {
            "RestApiId": api_id,
            "ResourceId": resource_id,
            "HttpMethod": "POST",
            "AuthorizationType": "NONE",
            "RequestModels": {"application/json": "Job"},
            "RequestValidatorId": validator_id,
        },
        "s",
    )
    return validator_id


def _method(api_id: str, resource_id: str) -> dict:
    return apigateway_v1._resources[api_id][resource_id]["resourceMethods"]["POST"]


def test_unpatched_ministack_drops_the_validator():
    """The divergence the patch exists for: if this starts failing, MiniStack fixed it upstream."""
    api_id, resource_id = _api_with_resource()
    _deploy_validated_method(api_id, resource_id)
    assert apigateway_v1._request_validators.get(api_id, {}) == {}
    assert _method(api_id, resource_id)["requestValidatorId"] is None


def test_patched_validator_is_created_and_bound_to_its_method():
    assert apply_request_validator_patch().applied
    api_id, resource_id = _api_with_resource()
    validator_id = _deploy_validated_method(api_id, resource_id)
    stored = apigateway_v1._request_validators[api_id][validator_id]
    assert stored == {
        "id": validator_id,
        "name": "body",
        "validateRequestBody": True,
        "validateRequestParameters": False,
    }
    assert _method(api_id, resource_id)["requestValidatorId"] == validator_id


def test_patched_validator_updates_in_place_replaces_on_rename_and_deletes():
    assert apply_request_validator_patch().applied
    handlers = provisioners._RESOURCE_HANDLERS["AWS::ApiGateway::RequestValidator"]
    api_id, _ = _api_with_resource()
    old = {"RestApiId": api_id, "Name": "body", "ValidateRequestBody": True}
    validator_id, _ = handlers["create"]("V", old, "s")
    same_id, _ = handlers["update"](validator_id, old, {**old, "ValidateRequestParameters": "true"}, "s")
    assert same_id == validator_id
    assert apigateway_v1._request_validators[api_id][validator_id]["validateRequestParameters"] is True
    new_id, _ = handlers["update"](validator_id, old, {**old, "Name": "renamed"}, "s")
    assert new_id != validator_id and set(apigateway_v1._request_validators[api_id]) == {new_id}
    handlers["delete"](new_id, {**old, "Name": "renamed"})
    handlers["delete"](new_id, {**old, "Name": "renamed"})  # idempotent: rollback may delete twice
    assert apigateway_v1._request_validators[api_id] == {}


def test_patch_is_idempotent_and_refuses_another_release_or_source():
    assert apply_request_validator_patch().applied
    assert apply_request_validator_patch().detail == "already in place"
    provisioners._apigw_method_create = UPSTREAM_METHOD_CREATE
    other = apply_request_validator_patch(provisioners, apigateway_v1, installed_version="9.9.9")
    assert not other.applied and PINNED_MINISTACK_VERSION in other.detail
    changed = types.ModuleType("provisioners")
    changed.__dict__.update(vars(provisioners))
    changed._apigw_method_create = lambda logical_id, props, stack_name: None
    refused = apply_request_validator_patch(changed, apigateway_v1, installed_version=PINNED_MINISTACK_VERSION)
    assert not refused.applied and "_apigw_method_create" in refused.detail
    assert refused.name == REQUEST_VALIDATOR_PATCH
