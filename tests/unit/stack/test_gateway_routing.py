"""Resource selection as API Gateway does it: literal > {param} > {proxy+}, on (path, verb)."""

from __future__ import annotations

import pytest

from stack.embedded.gateway.routing import RouteTable

TABLE = RouteTable(
    [
        ("/", ["GET"], "root"),
        ("/webhooks/{provider}", ["POST"], "webhook"),
        ("/webhooks/shopify", ["POST"], "shopify"),
        ("/webhooks/{provider}/test", ["GET"], "webhook-test"),
        ("/events/{id}", ["GET"], "event"),
        ("/files/{proxy+}", ["ANY"], "files"),
        ("/only-get", ["GET"], "only-get"),
        ("/{catchall+}", ["DELETE"], "catchall"),
    ]
)


@pytest.mark.parametrize(
    ("verb", "path", "resource", "method", "params"),
    [
        ("GET", "/", "root", "GET", {}),
        ("POST", "/webhooks/stripe", "webhook", "POST", {"provider": "stripe"}),
        ("POST", "/webhooks/shopify", "shopify", "POST", {}),
        ("POST", "/webhooks/shopify/", "shopify", "POST", {}),
        ("GET", "/webhooks/shopify/test", "webhook-test", "GET", {"provider": "shopify"}),
        ("GET", "/events/evt_1", "event", "GET", {"id": "evt_1"}),
        ("GET", "/events/a%20b", "event", "GET", {"id": "a b"}),
        ("PUT", "/files/a/b/c.txt", "files", "ANY", {"proxy": "a/b/c.txt"}),
        ("DELETE", "/only-get", "catchall", "DELETE", {"catchall": "only-get"}),
        ("DELETE", "/events/evt_1", "catchall", "DELETE", {"catchall": "events/evt_1"}),
    ],
)
def test_matches(verb: str, path: str, resource: str, method: str, params: dict[str, str]) -> None:
    match = TABLE.match(path, verb)
    assert match is not None
    assert (match.resource, match.http_method, match.path_parameters) == (resource, method, params)


@pytest.mark.parametrize(
    ("verb", "path"),
    [
        ("GET", "/nowhere"),  # no resource, and the greedy one serves DELETE only
        ("POST", "/only-get"),  # resource exists, verb does not, no greedy serves POST
        ("GET", "/webhooks/stripe"),
        ("GET", "/files"),  # {proxy+} needs at least one segment
    ],
)
def test_no_match(verb: str, path: str) -> None:
    assert TABLE.match(path, verb) is None


def test_two_parameter_names_at_one_level_are_refused() -> None:
    with pytest.raises(ValueError, match="two path parameters"):
        RouteTable([("/a/{x}", ["GET"], 1), ("/a/{y}/b", ["GET"], 2)])
