"""Schema drift generators: every case is correctly signed, and its declared outcome is the one the
handlers' own models give (checked here without AWS); the corrected payload validates."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from chaos.drift import CASES, CASES_BY_PROVIDER, drifted, plan_drift
from chaos.reconcile import reason_matches
from chaos.traffic import GroupSpec, group_specs
from handlers.platform.api_gateway import lowercase_headers
from handlers.producer import describe_delivery
from handlers.providers.registry import REGISTRY, model_for
from handlers.worker import failure_reason
from stack.clients import providers as client_providers

SECRETS = {"shopify": "shpss_drift", "stripe": "whsec_drift", "github": "gh_drift"}
SPECS = {
    "shopify": GroupSpec("shopify", "drift-shop.myshopify.com"),
    "stripe": GroupSpec("stripe", "acct_drift1"),
    "github": GroupSpec("github", "drift-org/repo"),
}
# Every other provider, as the drills key it: its generic drift cases are checked the same way.
for _name, _sender in client_providers.REGISTRY.items():
    SECRETS.setdefault(_name, _sender.new_secret())
    SPECS.setdefault(_name, GroupSpec(_name, _sender.group_key("drift-group")))
CASES_UNDER_TEST = [(provider, case) for provider, cases in CASES_BY_PROVIDER.items() for case in cases]


def worker_outcome(provider: str, topic: str, body: bytes) -> tuple[str, str | None]:
    """What the worker's validation step decides for this body: processed or dead-lettered (reason)."""
    model = model_for(provider, topic)
    if model is None:
        json.loads(body)  # a generic event only has to be JSON
        return "processed", None
    try:
        model.model_validate_json(body).projection()
    except ValidationError as error:
        return "dead_lettered", failure_reason(error)
    return "processed", None


@pytest.mark.parametrize("provider, case", CASES_UNDER_TEST)
def test_declared_outcome_is_what_the_models_decide(provider, case):
    result = drifted(case, SPECS[provider], SECRETS, random.Random(11))
    delivery = result.delivery
    headers = lowercase_headers({"headers": delivery.headers})
    REGISTRY[provider].verify(SECRETS[provider], delivery.body, headers, now=None)  # signed over the drifted body
    described = describe_delivery(provider, headers, json.loads(delivery.body))  # the producer accepts it
    assert described.ordering_key == SPECS[provider].key  # same message group as the undrifted traffic
    outcome, reason = worker_outcome(provider, described.topic, delivery.body)
    assert outcome == ("dead_lettered" if result.expectation.outcome == "dead_lettered" else "processed")
    if outcome == "dead_lettered":
        assert reason_matches(result.expectation.reasons, reason), (reason, result.expectation.reasons)
        assert result.fixed_body is not None
        assert worker_outcome(provider, described.topic, result.fixed_body) == ("processed", None)
        fixed = json.loads(result.fixed_body)
        original = json.loads(delivery.body)
        if provider == "stripe":
            assert fixed["id"] == original["id"]  # the corrected body is the same delivery
    else:
        assert result.fixed_body is None
    assert result.expectation.label == f"drift:{case}"


def test_reasons_name_the_field():
    result = drifted("renamed_field", SPECS["shopify"], SECRETS, random.Random(2))
    _, reason = worker_outcome("shopify", "orders/create", result.delivery.body)
    assert "line_items" in reason
    assert not reason_matches(result.expectation.reasons, "schema mismatch: total_price: Field required")


def test_new_api_version_and_new_topic_are_visible_to_the_producer():
    version = drifted("new_api_version", SPECS["shopify"], SECRETS, random.Random(4)).delivery
    assert version.headers["X-Shopify-API-Version"] == "2099-01"
    topic = drifted("new_topic", SPECS["shopify"], SECRETS, random.Random(4)).delivery
    assert topic.headers["X-Shopify-Topic"] == "carts/create" and model_for("shopify", "carts/create") is None


def test_a_case_that_does_not_apply_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        drifted("new_api_version", SPECS["github"], SECRETS, random.Random(1))


def test_plan_covers_every_case_with_24_events_and_alternates_valid_events():
    planned = plan_drift("abc123", SECRETS, events=24, groups=4, seed="7:abc123")
    labels = [p.expectation.label for p in planned]
    assert {f"drift:{case}" for case in CASES} <= set(labels)
    assert labels.count("baseline") == 12
    assert len({p.event_id for p in planned}) == 24
    assert {p.group for p in planned} == {f"demo:{s.key}" for s in group_specs("abc123", 4)}


def test_plan_is_reproducible_per_seed_and_new_per_run():
    first = plan_drift("abc123", SECRETS, events=8, groups=4, seed="7:abc123")
    again = plan_drift("abc123", SECRETS, events=8, groups=4, seed="7:abc123")
    other = plan_drift("def456", SECRETS, events=8, groups=4, seed="7:def456")
    assert [p.event_id for p in first] == [p.event_id for p in again]
    assert not {p.event_id for p in first} & {p.event_id for p in other}
