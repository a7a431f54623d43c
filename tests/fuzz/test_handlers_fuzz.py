"""The handlers' entry points over arbitrary input (bounded: the ``ci`` profile, tests/fuzz/conftest.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from stack.clients.providers import PROVIDERS
from tests.fuzz import handler_properties as properties
from tests.fuzz.strategies import (
    authorizer_contexts,
    event_ids,
    header_maps,
    provider_names,
    request_bodies,
    stored_items,
)


@given(request_bodies)
@example(b"[" * 100_000 + b"]" * 100_000)
@example(b'{"a":' * 5_000 + b"1" + b"}" * 5_000)
@example(b'{"id": NaN, "total": Infinity}')
@example(b'{"n": ' + b"9" * 5_000 + b"}")
@example(b'{"n": -' + b"9" * 4_300 + b"}")
@example(b'{"a":' * 199 + b"[]" + b"}" * 199)
def test_the_json_rules_agree_with_an_independent_reading_and_the_workers_parser(body: bytes) -> None:
    properties.check_json_rules(body)


@given(provider_names, header_maps, request_bodies, authorizer_contexts)
def test_any_request_gets_a_documented_answer(
    provider: str, headers: dict[str, str], body: bytes, context: Any
) -> None:
    properties.check_unsigned_ingest(provider, headers, body, context)


@given(st.sampled_from(PROVIDERS), request_bodies, header_maps)
@example("stripe", b'{"id": "evt_\\u0000", "type": "invoice.paid"}', {})
@example("standard-webhooks", '{"type": "a", "note": "\ufffe"}'.encode(), {})
def test_any_signed_body_is_queued_as_received_or_refused_with_a_reason(
    provider: str, body: bytes, headers: dict[str, str]
) -> None:
    properties.check_signed_ingest(provider, body, headers)


@given(event_ids, authorizer_contexts, stored_items)
def test_any_status_lookup_gets_200_403_or_404(event_id: Any, context: Any, stored: dict[str, Any] | None) -> None:
    properties.check_status_lookup(event_id, context, stored)


@given(
    header_maps | st.just({"X-Hookstack-Token": "tok_acme"}) | st.just({"x-hookstack-token": "tok_ip"}),
    st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    st.none() | st.text(max_size=20) | st.sampled_from(["10.1.2.3", "::1", "203.0.113.9"]),
    st.text(max_size=60) | st.just("arn:aws:execute-api:us-east-1:1:api/dev/POST/webhooks/shopify") | st.none(),
)
def test_any_authorizer_request_gets_a_policy_or_unauthorized(
    headers: dict[str, str], query: dict[str, str] | None, source_ip: Any, method_arn: Any
) -> None:
    properties.check_authorizer(headers, query, source_ip, method_arn)
