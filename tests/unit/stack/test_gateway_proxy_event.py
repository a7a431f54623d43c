"""The REST proxy event (payload 1.0) and the proxy response contract.

The built events are compared with AWS's documented example (``DOCUMENTED_EVENT``, in
:mod:`tests.helpers.proxy_event_shape`, which says where it comes from) by
:func:`assert_same_shape`; the integration test compares a live event against it the same way.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from stack.embedded.gateway.proxy_event import (
    MalformedProxyResponse,
    RequestView,
    build_proxy_event,
    build_request_authorizer_event,
    build_request_context,
    media_type_matches,
    merge_headers,
    parse_proxy_response,
    parse_query,
    request_time,
)
from tests.helpers.proxy_event_shape import DOCUMENTED_EVENT, assert_same_shape


def _view(**overrides: Any) -> RequestView:
    raw = [
        ("Accept", "*/*"),
        ("Authorization", "allow:acme"),
        ("Content-Type", "application/json"),
        ("Host", "127.0.0.1:8123"),
        ("User-Agent", "curl/8.5.0"),
        ("X-Amzn-Trace-Id", "Root=1-00000000-000000000000000000000000"),
        ("X-Forwarded-For", "127.0.0.1"),
        ("X-Forwarded-Port", "8123"),
        ("X-Forwarded-Proto", "http"),
    ]
    headers, multi = merge_headers(raw)
    query, multi_query = parse_query("parameter1=value1&parameter1=value2&parameter2=value")
    fields: dict[str, Any] = {
        "http_method": "POST",
        "path": "/webhooks/shopify",
        "headers": headers,
        "multi_value_headers": multi,
        "query": query,
        "multi_value_query": multi_query,
        "body": b'{"id": 820982911946154508}',
        "source_ip": "127.0.0.1",
    }
    fields.update(overrides)
    return RequestView(**fields)


def _context(view: RequestView) -> dict[str, Any]:
    return build_request_context(
        request=view,
        account_id="000000000000",
        api_id="abc123",
        stage="test",
        resource_id="r1",
        resource_path="/webhooks/{provider}",
        request_id="11111111-2222-3333-4444-555555555555",
        extended_request_id="JJbxmHc9IAMFpnQ=",
        epoch_ms=1583798639428,
        domain_name="127.0.0.1:8123",
    )


def _event(view: RequestView | None = None, binary: tuple[str, ...] = ()) -> dict[str, Any]:
    view = view or _view()
    return build_proxy_event(
        request=view,
        resource_path="/webhooks/{provider}",
        path_parameters={"provider": "shopify"},
        stage_variables={"color": "blue"},
        request_context=_context(view),
        authorizer={
            "tenant": "acme",
            "providers": "shopify,stripe",
            "premium": "true",
            "quota": "5",
            "principalId": "user-acme",
            "integrationLatency": 4,
        },
        binary_media_types=binary,
    )


def test_built_event_has_the_documented_shape() -> None:
    assert_same_shape(_event(), DOCUMENTED_EVENT)


def test_built_event_values() -> None:
    event = _event()
    assert event["resource"] == "/webhooks/{provider}"
    assert event["path"] == "/webhooks/shopify"
    assert event["queryStringParameters"] == DOCUMENTED_EVENT["queryStringParameters"]
    assert event["multiValueQueryStringParameters"] == DOCUMENTED_EVENT["multiValueQueryStringParameters"]
    assert event["body"] == DOCUMENTED_EVENT["body"]
    context = event["requestContext"]
    assert context["path"] == "/test/webhooks/shopify"
    assert context["requestTime"] == DOCUMENTED_EVENT["requestContext"]["requestTime"]
    assert context["requestTimeEpoch"] == DOCUMENTED_EVENT["requestContext"]["requestTimeEpoch"]
    assert context["domainPrefix"] == "127"
    assert context["identity"]["userAgent"] == "curl/8.5.0"


def test_shape_check_catches_a_missing_field() -> None:
    event = _event()
    del event["requestContext"]["identity"]["caller"]
    with pytest.raises(AssertionError, match="caller"):
        assert_same_shape(event, DOCUMENTED_EVENT)


def test_powertools_parser_accepts_the_event() -> None:
    from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel

    model = APIGatewayProxyEventModel.model_validate(_event())
    assert model.requestContext.authorizer is not None
    assert model.pathParameters == {"provider": "shopify"}


def test_request_authorizer_event_never_carries_the_body() -> None:
    view = _view()
    event = build_request_authorizer_event(
        request=view,
        method_arn="arn:aws:execute-api:us-east-1:000000000000:abc123/test/POST/webhooks/shopify",
        resource_path="/webhooks/{provider}",
        path_parameters={"provider": "shopify"},
        stage_variables={},
        request_context=_context(view),
    )
    assert "body" not in event and "isBase64Encoded" not in event
    assert event["type"] == "REQUEST"
    assert event["stageVariables"] is None
    assert event["methodArn"].endswith("/test/POST/webhooks/shopify")
    assert set(event) == {
        "type",
        "methodArn",
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
    }


def test_headers_merge_case_insensitively_and_keep_the_last_value() -> None:
    single, multi = merge_headers([("X-Tag", "a"), ("x-tag", "b"), ("Host", "h")])
    assert single == {"X-Tag": "b", "Host": "h"}
    assert multi == {"X-Tag": ["a", "b"], "Host": ["h"]}


def test_query_parsing() -> None:
    assert parse_query("") == (None, None)
    single, multi = parse_query("a=1&a=2&b=&c=x%20y")
    assert single == {"a": "2", "b": "", "c": "x y"}
    assert multi == {"a": ["1", "2"], "b": [""], "c": ["x y"]}


def test_binary_media_type_body_is_base64() -> None:
    view = _view(body=b"\x00\xff\x10", headers={"Content-Type": "application/octet-stream"})
    event = _event(view, binary=("application/octet-stream",))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff\x10"


def test_media_type_patterns() -> None:
    assert media_type_matches("image/png", ["image/*"])
    assert media_type_matches("application/zip; q=1", ["application/zip"])
    assert media_type_matches("text/plain", ["*/*"])
    assert not media_type_matches("application/json", ["application/octet-stream"])
    assert not media_type_matches(None, ["*/*"])


def test_request_time_uses_english_months() -> None:
    assert request_time(0) == "01/Jan/1970:00:00:00 +0000"


# --- proxy responses ---


def test_response_defaults() -> None:
    response = parse_proxy_response({"body": "hi"}, None, ())
    assert response.status == 200
    assert response.headers == [("Content-Type", "application/json")]
    assert response.body == b"hi"


def test_response_multi_value_headers_win_over_single() -> None:
    response = parse_proxy_response(
        {
            "statusCode": "202",
            "headers": {"Set-Cookie": "x=0", "content-type": "text/plain", "X-Count": 3},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": "",
        },
        None,
        (),
    )
    assert response.status == 202
    assert ("Set-Cookie", "x=0") not in response.headers
    assert [v for k, v in response.headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert ("X-Count", "3") in response.headers
    assert ("Content-Type", "application/json") not in response.headers


def test_base64_response_is_decoded_only_for_a_binary_accept() -> None:
    answer = {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(b"\x01\x02").decode()}
    assert parse_proxy_response(answer, "application/octet-stream", ("application/octet-stream",)).body == b"\x01\x02"
    assert parse_proxy_response(answer, "application/json", ("application/octet-stream",)).body == b"AQI="


@pytest.mark.parametrize(
    "answer",
    [
        "just a string",
        None,
        {"statusCode": "abc"},
        {"statusCode": 99},
        {"body": {"not": "a string"}},
        {"headers": ["x"]},
        {"multiValueHeaders": {"a": "not-a-list"}},
        {"headers": {"a": {"nested": 1}}},
    ],
)
def test_malformed_responses_are_refused(answer: Any) -> None:
    with pytest.raises(MalformedProxyResponse):
        parse_proxy_response(answer, None, ())
