"""Lambda authorizer pieces: identity sources, result cache, reading the function's answer."""

from __future__ import annotations

import pytest

from stack.embedded.gateway.authorizer import (
    AuthorizerCache,
    AuthorizerConfigurationError,
    check_identity_source,
    identity_values,
    read_authorizer_output,
    token_is_valid,
)
from stack.embedded.gateway.definition import AuthorizerSpec
from stack.embedded.gateway.proxy_event import RequestView, merge_headers, parse_query


def _authorizer(*sources: str, ttl: int = 300, kind: str = "REQUEST", expression: str | None = None) -> AuthorizerSpec:
    return AuthorizerSpec("a1", "auth", kind, "fn", tuple(sources), ttl, expression)


def _view(headers: list[tuple[str, str]], query: str = "") -> RequestView:
    single, multi = merge_headers(headers)
    q, mq = parse_query(query)
    return RequestView("GET", "/x", single, multi, q, mq, b"", "127.0.0.9")


def test_identity_values_in_order() -> None:
    authorizer = _authorizer(
        "method.request.header.Authorization",
        "method.request.querystring.tenant",
        "stageVariables.env",
        "context.identity.sourceIp",
    )
    values, complete = identity_values(authorizer, _view([("authorization", "tok")], "tenant=t1"), {"env": "dev"})
    assert values == ("tok", "t1", "dev", "127.0.0.9")
    assert complete


def test_missing_or_empty_identity_source_is_incomplete() -> None:
    authorizer = _authorizer("method.request.header.Authorization", "method.request.header.X-Tenant")
    assert identity_values(authorizer, _view([("Authorization", "tok")]), {}) == (("tok", ""), False)
    assert identity_values(authorizer, _view([("Authorization", ""), ("X-Tenant", "t")]), {})[1] is False


@pytest.mark.parametrize("source", ["method.request.path.id", "context.authorizer.x", "method.request.header."])
def test_unsupported_identity_sources_are_refused(source: str) -> None:
    with pytest.raises(ValueError, match="not supported on this target"):
        check_identity_source(source)


def test_token_validation_expression_must_match_the_whole_token() -> None:
    authorizer = _authorizer("method.request.header.Authorization", kind="TOKEN", expression="Bearer [a-z]+")
    assert token_is_valid(authorizer, "Bearer abc")
    assert not token_is_valid(authorizer, "Bearer abc1")
    assert token_is_valid(_authorizer("x", kind="TOKEN"), "anything")


def test_output_context_values_are_stringified() -> None:
    result = read_authorizer_output(
        {
            "principalId": 42,
            "policyDocument": {"Statement": []},
            "context": {"tenant": "acme", "premium": True, "off": False, "quota": 5, "ratio": 0.5, "gone": None},
        }
    )
    assert result.principal_id == "42"
    assert result.context == {"tenant": "acme", "premium": "true", "off": "false", "quota": "5", "ratio": "0.5"}
    assert result.request_context_authorizer(7) == {**result.context, "principalId": "42", "integrationLatency": 7}


def test_output_as_json_string_is_read() -> None:
    assert read_authorizer_output('{"principalId": "p", "policyDocument": {"Statement": []}}').principal_id == "p"


@pytest.mark.parametrize(
    "output",
    [
        None,
        "not json",
        {"principalId": "p"},
        {"principalId": "p", "policyDocument": "x"},
        {"principalId": "p", "policyDocument": {}, "context": {"nested": {"a": 1}}},
        {"principalId": "p", "policyDocument": {}, "context": {"list": [1]}},
        {"principalId": "p", "policyDocument": {}, "context": "x"},
    ],
)
def test_invalid_outputs(output: object) -> None:
    with pytest.raises(AuthorizerConfigurationError):
        read_authorizer_output(output)


class FakeClock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cache_honours_ttl_and_zero_disables() -> None:
    clock = FakeClock()
    cache = AuthorizerCache(clock)
    result = read_authorizer_output({"principalId": "p", "policyDocument": {"Statement": []}})
    assert cache.get("a1", ("tok",)) is None
    cache.put("a1", ("tok",), result, ttl_s=300)
    assert cache.get("a1", ("tok",)) is result
    assert cache.get("a1", ("other",)) is None
    assert cache.get("a2", ("tok",)) is None
    clock.now = 299.9
    assert cache.get("a1", ("tok",)) is result
    clock.now = 300.0
    assert cache.get("a1", ("tok",)) is None
    cache.put("a1", ("tok",), result, ttl_s=0)
    assert cache.get("a1", ("tok",)) is None
    assert (cache.hits, cache.misses) == (2, 5)


def test_cache_is_bounded() -> None:
    cache = AuthorizerCache(FakeClock(), max_entries=2)
    result = read_authorizer_output({"principalId": "p", "policyDocument": {"Statement": []}})
    for token in ("a", "b", "c"):
        cache.put("x", (token,), result, 10)
    assert len(cache) == 2
    assert cache.get("x", ("a",)) is None
    assert cache.get("x", ("c",)) is result
