"""Each DTO: valid, extra fields tolerated, missing required field, wrong type."""

from __future__ import annotations

import copy
import json
import random

import pytest
from pydantic import ValidationError

from handlers.providers.registry import MODELS, model_for
from stack.clients.providers.github import github_body
from stack.clients.providers.shopify import shopify_body
from stack.clients.providers.stripe import stripe_body

SHOPIFY = {
    "orders/create": ("id", ("line_items", 0, "quantity")),
    "orders/updated": ("total_price", ("line_items",)),
    "orders/paid": ("line_items", ("id",)),
    "products/create": ("variants", ("variants", 0, "price")),
    "products/update": ("title", ("id",)),
    "customers/create": ("created_at", ("id",)),
    "app/uninstalled": ("myshopify_domain", ("id",)),
}
STRIPE = {
    "payment_intent.succeeded": (("data", "object", "amount"), ("data", "object", "amount")),
    "invoice.paid": (("data", "object", "customer"), ("data", "object", "amount_paid")),
}
GITHUB = {"push": (("repository", "full_name"), ("commits",))}

CASES = (
    [("shopify", t, m, w) for t, (m, w) in SHOPIFY.items()]
    + [("stripe", t, m, w) for t, (m, w) in STRIPE.items()]
    + [("github", t, m, w) for t, (m, w) in GITHUB.items()]
)


def sample(provider: str, topic: str, seed: int = 7) -> dict:
    rng = random.Random(seed)
    if provider == "shopify":
        return shopify_body(topic, rng=rng)
    if provider == "stripe":
        return stripe_body(topic, rng=rng, created=1_700_000_000)
    return github_body(topic, rng=rng)


def _path(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _parent(document, path):
    for key in path[:-1]:
        document = document[key]
    return document


def test_every_required_topic_has_a_model():
    for provider, topics in (("shopify", SHOPIFY), ("stripe", STRIPE), ("github", GITHUB)):
        for topic in topics:
            assert model_for(provider, topic) is not None, (provider, topic)
    assert set(MODELS) == {"shopify", "stripe", "github"}


def test_unknown_topic_has_no_model():
    assert model_for("shopify", "carts/create") is None
    assert model_for("nope", "push") is None


@pytest.mark.parametrize("provider, topic, missing, wrong", CASES)
def test_valid_payload(provider, topic, missing, wrong):
    document = sample(provider, topic)
    model = model_for(provider, topic).model_validate_json(json.dumps(document))
    projection = model.projection()
    assert projection.kind and projection.entity_id
    json.dumps(projection.fields)  # plain JSON-able values only (DynamoDB map, no floats)
    assert not any(isinstance(v, float) for v in projection.fields.values())


@pytest.mark.parametrize("provider, topic, missing, wrong", CASES)
def test_extra_fields_are_tolerated(provider, topic, missing, wrong):
    document = sample(provider, topic)
    document["brand_new_field"] = {"added": "in a later API version"}
    nested = document.get("data", {}).get("object") or (document.get("line_items") or [{}])[0]
    nested["another_new_field"] = [1, 2, 3]
    model_for(provider, topic).model_validate(document)


@pytest.mark.parametrize("provider, topic, missing, wrong", CASES)
def test_missing_required_field_is_a_validation_error(provider, topic, missing, wrong):
    document = copy.deepcopy(sample(provider, topic))
    path = _path(missing)
    del _parent(document, path)[path[-1]]
    with pytest.raises(ValidationError) as error:
        model_for(provider, topic).model_validate(document)
    assert any(issue["type"] == "missing" for issue in error.value.errors())


@pytest.mark.parametrize("provider, topic, missing, wrong", CASES)
def test_ill_typed_field_is_a_validation_error(provider, topic, missing, wrong):
    document = copy.deepcopy(sample(provider, topic))
    path = _path(wrong)
    _parent(document, path)[path[-1]] = {"not": "the right type"}
    with pytest.raises(ValidationError):
        model_for(provider, topic).model_validate(document)


@pytest.mark.parametrize("value", ["nineteen", True, [1]])
def test_money_must_be_a_decimal(value):
    document = sample("shopify", "orders/create")
    document["total_price"] = value
    with pytest.raises(ValidationError):
        model_for("shopify", "orders/create").model_validate(document)


def test_money_keeps_its_exact_string():
    document = sample("shopify", "orders/create")
    document["total_price"] = "19.90"
    order = model_for("shopify", "orders/create").model_validate(document)
    assert order.projection().fields["total_price"] == "19.90"


def test_stripe_type_must_match_the_topic_model():
    document = sample("stripe", "invoice.paid")
    with pytest.raises(ValidationError):
        model_for("stripe", "payment_intent.succeeded").model_validate(document)


def test_stripe_object_ids_are_checked():
    document = sample("stripe", "payment_intent.succeeded")
    document["data"]["object"]["id"] = "ch_wrong_kind"
    with pytest.raises(ValidationError):
        model_for("stripe", "payment_intent.succeeded").model_validate(document)


def test_github_commit_ids_are_shas():
    document = sample("github", "push")
    document["commits"][0]["id"] = "not-a-sha"
    with pytest.raises(ValidationError):
        model_for("github", "push").model_validate(document)


def test_projection_ids():
    order = model_for("shopify", "orders/create").model_validate(sample("shopify", "orders/create"))
    assert order.projection().item_id("acme") == f"acme#order#{order.id}"
    push = model_for("github", "push").model_validate(sample("github", "push"))
    assert push.projection().item_id("acme") == f"acme#push#octo-org/octo-repo@{push.after}"
