"""The external-poller patch: MiniStack's pollers skip the mappings hookstack's event plane claimed.

Behaviour against a running emulator (a claimed mapping's queue is left alone, a released one is
polled again) is in tests/integration/test_event_plane.py; here the guard and the filter.
"""

from __future__ import annotations

import types

import pytest
from ministack.services import lambda_svc

from stack.embedded.ministack import patches
from stack.embedded.ministack.patches import (
    EXTERNAL_POLLER_PATCH,
    EXTERNAL_POLLER_TAG_KEY,
    EXTERNAL_POLLER_TAG_VALUE,
    PINNED_MINISTACK_VERSION,
    apply_external_poller_patch,
    is_claimed,
    unclaimed_mappings,
)

CLAIM = {EXTERNAL_POLLER_TAG_KEY: EXTERNAL_POLLER_TAG_VALUE}


@pytest.fixture
def upstream_iter(monkeypatch):
    original = lambda_svc._iter_all_esms
    while getattr(original, "__wrapped__", None) is not None:
        original = original.__wrapped__
    monkeypatch.setattr(lambda_svc, "_iter_all_esms", original)
    return original


def test_only_the_event_planes_own_tag_claims_a_mapping():
    assert is_claimed({"Tags": CLAIM})
    assert not is_claimed({})
    assert not is_claimed({"Tags": {EXTERNAL_POLLER_TAG_KEY: "someone-else"}})
    assert not is_claimed({"Tags": {"team": "payments"}})
    assert not is_claimed({"Tags": None})


def test_the_filter_passes_unclaimed_mappings_through_in_order():
    records = [("a", "r", {"UUID": "1"}), ("a", "r", {"UUID": "2", "Tags": CLAIM}), ("a", "r", {"UUID": "3"})]
    assert [m["UUID"] for _, _, m in unclaimed_mappings(lambda: iter(records))()] == ["1", "3"]


def test_applied_to_the_pinned_release_the_pollers_stop_seeing_claimed_mappings(upstream_iter, monkeypatch):
    fake = {
        ("000000000000", "us-east-1", "1"): {"UUID": "1"},
        ("000000000000", "us-east-1", "2"): {"UUID": "2", "Tags": CLAIM},
    }
    monkeypatch.setattr(lambda_svc._esms, "_data", fake)
    outcome = apply_external_poller_patch(lambda_svc, PINNED_MINISTACK_VERSION)
    assert outcome.applied, outcome.detail
    assert [m["UUID"] for _, _, m in lambda_svc._iter_all_esms()] == ["1"]
    assert apply_external_poller_patch(lambda_svc, PINNED_MINISTACK_VERSION).detail == "already in place"
    # Each poller finds the name in its module globals on every pass: rebinding reaches all three.
    for poller in (lambda_svc._poll_sqs, lambda_svc._poll_kinesis, lambda_svc._poll_dynamodb_streams):
        assert "_iter_all_esms" in poller.__code__.co_names and poller.__globals__ is vars(lambda_svc)


def test_another_release_is_refused(upstream_iter):
    outcome = apply_external_poller_patch(lambda_svc, "9.9.9")
    assert not outcome.applied and "9.9.9" in outcome.detail
    assert lambda_svc._iter_all_esms is upstream_iter


def test_changed_source_is_refused(upstream_iter):
    module = types.ModuleType("ministack.services.lambda_svc")
    for name in patches._EXPECTED_LAMBDA_SOURCE_SHA256:
        setattr(module, name, getattr(lambda_svc, name))

    def _iter_all_esms():  # not the function the patch was checked against
        return iter(())

    module._iter_all_esms = _iter_all_esms
    outcome = apply_external_poller_patch(module, PINNED_MINISTACK_VERSION)
    assert not outcome.applied and "_iter_all_esms is not the source" in outcome.detail
    assert outcome.name == EXTERNAL_POLLER_PATCH
