"""Schema drift generators: what providers change between API versions, applied to the traffic a
drill sends. Each case declares its correct outcome:

- ``unknown_fields``: new fields, top level and nested → accepted and PROCESSED.
- ``renamed_field`` / ``removed_field``: a required field renamed or gone → DEAD_LETTERED, and the
  reason names the field.
- ``type_change``: a required field changes type (a money string becomes an object, say) →
  DEAD_LETTERED, reason names the field.
- ``new_topic``: a topic hookstack has no model for → accepted and PROCESSED generically.
- ``new_api_version``: a newer API version (header or envelope) → accepted and PROCESSED.

Shopify, Stripe and GitHub have cases written for them below. Any other provider gets the generic
ones, from its client module alone: unknown fields and a new topic always, and the renamed /
removed / retyped field cases on the fields it declares (``ClientProvider.drift_fields``).

The fix for a dead-lettered case is the corrected payload: the same delivery in the form the
models expect, replayed from the DLQ with it.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chaos.traffic import PROCESSED, Expectation, GroupSpec, PlannedEvent, group_specs
from stack.clients import providers as client_providers
from stack.clients.providers import Delivery
from stack.clients.providers.github import github_body, github_delivery
from stack.clients.providers.shopify import shopify_body, shopify_delivery
from stack.clients.providers.stripe import stripe_body, stripe_delivery

CASES = ("unknown_fields", "renamed_field", "removed_field", "type_change", "new_topic", "new_api_version")


def schema_reason(field_name: str) -> Expectation:
    return Expectation("dead_lettered", (rf"schema mismatch.*\b{field_name}\b",), "")


@dataclass(frozen=True)
class Drifted:
    """A drifted delivery, its expectation, and the corrected body (None when none is needed)."""

    delivery: Delivery
    expectation: Expectation
    fixed_body: bytes | None


def _raw(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _unknown(document: dict, nested: dict) -> None:
    document["x_drift_new_field"] = {"introduced_in": "2099-01", "values": [1, 2, 3]}
    nested["x_drift_nested_flag"] = True


# --- Shopify (orders) ----------------------------------------------------------------------------


def _shopify(case: str, spec: GroupSpec, secret: str, rng: random.Random) -> Drifted:
    base = shopify_body("orders/create", shop=spec.key, rng=rng)
    webhook_id = f"drift-{case}-{rng.getrandbits(64):016x}"

    def send(
        document: dict,
        expectation: Expectation,
        *,
        topic: str = "orders/create",
        api_version: str = "2025-10",
        fixed: bool = False,
    ) -> Drifted:
        delivery = shopify_delivery(
            topic, secret, shop=spec.key, rng=rng, webhook_id=webhook_id, body=document, api_version=api_version
        )
        return Drifted(delivery, expectation, _raw(base) if fixed else None)

    document = copy.deepcopy(base)
    if case == "unknown_fields":
        _unknown(document, document["line_items"][0])
        return send(document, PROCESSED)
    if case == "renamed_field":
        document["lineItems"] = document.pop("line_items")
        return send(document, schema_reason("line_items"), fixed=True)
    if case == "removed_field":
        del document["total_price"]
        return send(document, schema_reason("total_price"), fixed=True)
    if case == "type_change":
        document["total_price"] = {"amount": document["total_price"], "currency_code": document["currency"]}
        return send(document, schema_reason("total_price"), fixed=True)
    if case == "new_topic":
        cart = {
            "id": rng.randrange(10**12, 10**15),
            "token": f"cart-{rng.getrandbits(48):x}",
            "line_items": [{"id": 1, "quantity": 2, "title": "Canvas Tote"}],
            "note": None,
        }
        return send(cart, PROCESSED, topic="carts/create")
    if case == "new_api_version":
        return send(document, PROCESSED, api_version="2099-01")
    raise ValueError(case)


# --- Stripe (payment intents) ---------------------------------------------------------------------


def _stripe(case: str, spec: GroupSpec, secret: str, rng: random.Random) -> Drifted:
    base = stripe_body("payment_intent.succeeded", account=spec.key, rng=rng)

    def send(document: dict, expectation: Expectation, fixed: bool = False) -> Drifted:
        delivery = stripe_delivery(document["type"], secret, account=spec.key, rng=rng, body=document)
        return Drifted(delivery, expectation, _raw(base) if fixed else None)

    document = copy.deepcopy(base)
    intent = document["data"]["object"]
    if case == "unknown_fields":
        _unknown(document, intent)
        return send(document, PROCESSED)
    if case == "renamed_field":
        intent["amount_total"] = intent.pop("amount")
        return send(document, schema_reason("amount"), fixed=True)
    if case == "removed_field":
        del intent["currency"]
        return send(document, schema_reason("currency"), fixed=True)
    if case == "type_change":
        intent["amount"] = {"value": intent["amount"], "exponent": 2}
        return send(document, schema_reason("amount"), fixed=True)
    if case == "new_topic":
        created = stripe_body("customer.created", account=spec.key, rng=rng)
        created["id"] = document["id"]
        return send(created, PROCESSED)
    if case == "new_api_version":
        document["api_version"] = "2099-01-01.preview"
        return send(document, PROCESSED)
    raise ValueError(case)


# --- GitHub (push) -------------------------------------------------------------------------------


def _github(case: str, spec: GroupSpec, secret: str, rng: random.Random) -> Drifted:
    base = github_body("push", repo=spec.key, rng=rng)
    delivery_id = f"drift-{case}-{rng.getrandbits(64):016x}"

    def send(document: dict, expectation: Expectation, *, event: str = "push", fixed: bool = False) -> Drifted:
        delivery = github_delivery(event, secret, repo=spec.key, rng=rng, delivery_id=delivery_id, body=document)
        return Drifted(delivery, expectation, _raw(base) if fixed else None)

    document = copy.deepcopy(base)
    if case == "unknown_fields":
        _unknown(document, document["repository"])
        return send(document, PROCESSED)
    if case == "renamed_field":
        document["pushed_by"] = document.pop("pusher")
        return send(document, schema_reason("pusher"), fixed=True)
    if case == "removed_field":
        del document["after"]
        return send(document, schema_reason("after"), fixed=True)
    if case == "type_change":
        document["commits"] = {"count": len(document["commits"])}
        return send(document, schema_reason("commits"), fixed=True)
    if case == "new_topic":
        return send(github_body("workflow_run", repo=spec.key, rng=rng), PROCESSED, event="workflow_run")
    raise ValueError(f"drift case {case!r} does not apply to GitHub (its webhooks carry no API version)")


# --- any other provider: the generic cases ---------------------------------------------------------

GENERIC_SCHEMA_CASES = ("renamed_field", "removed_field", "type_change")
NEW_TOPIC = "hookstack.drift_new_topic"


def _locate(document: dict, path: str) -> tuple[dict, str]:
    *parents, leaf = path.split(".")
    for key in parents:
        document = document[key]
    return document, leaf


def _generic(case: str, spec: GroupSpec, secret: str, rng: random.Random) -> Drifted:
    sender = client_providers.get(spec.provider)
    topic = sender.default_topic
    base = sender.body(topic, rng=rng, group_key=spec.key)
    delivery_id = f"drift-{case}-{rng.getrandbits(64):016x}"

    def send(document: dict, expectation: Expectation, *, topic: str = topic, fixed: bool = False) -> Drifted:
        delivery = sender.delivery(topic, secret, rng=rng, group_key=spec.key, delivery_id=delivery_id, body=document)
        return Drifted(delivery, expectation, _raw(base) if fixed else None)

    document = copy.deepcopy(base)
    if case == "unknown_fields":
        nested = next((value for value in document.values() if isinstance(value, dict)), document)
        _unknown(document, nested)
        return send(document, PROCESSED)
    if case == "new_topic":
        return send(sender.body(NEW_TOPIC, rng=rng, group_key=spec.key), PROCESSED, topic=NEW_TOPIC)
    fields = sender.drift_fields
    if case in GENERIC_SCHEMA_CASES and fields:
        path = fields[-1] if case == "removed_field" else fields[0]
        parent, leaf = _locate(document, path)
        value: Any = parent.pop(leaf)
        if case == "renamed_field":
            parent[f"{leaf}_renamed"] = value
        elif case == "type_change":
            parent[leaf] = "drifted" if isinstance(value, dict | list) else {"value": value}
        return send(document, schema_reason(leaf), fixed=True)
    raise ValueError(f"drift case {case!r} does not apply to {spec.provider}")


def _generic_cases(sender: client_providers.ClientProvider) -> tuple[str, ...]:
    schema = GENERIC_SCHEMA_CASES if sender.drift_fields else ()
    return ("unknown_fields", *schema, "new_topic")


GENERATORS: dict[str, Callable[[str, GroupSpec, str, random.Random], Drifted]] = {
    "shopify": _shopify,
    "stripe": _stripe,
    "github": _github,
}
SPECIFIC_CASES: dict[str, tuple[str, ...]] = {
    "shopify": CASES,
    "stripe": CASES,
    "github": tuple(c for c in CASES if c != "new_api_version"),
}
CASES_BY_PROVIDER: dict[str, tuple[str, ...]] = {
    name: SPECIFIC_CASES.get(name) or _generic_cases(sender) for name, sender in client_providers.REGISTRY.items()
}


def drifted(case: str, spec: GroupSpec, secrets: dict[str, str], rng: random.Random) -> Drifted:
    if case not in CASES_BY_PROVIDER[spec.provider]:
        raise ValueError(f"drift case {case!r} is not one of {', '.join(CASES_BY_PROVIDER[spec.provider])}")
    result = GENERATORS.get(spec.provider, _generic)(case, spec, secrets[spec.provider], rng)
    expectation = Expectation(result.expectation.outcome, result.expectation.reasons, f"drift:{case}")
    return Drifted(result.delivery, expectation, result.fixed_body)


def plan_drift(
    run_id: str, secrets: dict[str, str], *, events: int, groups: int, seed: int | str
) -> list[PlannedEvent]:
    """Alternate valid and drifted events in every group; the cases rotate per provider so each
    one appears as soon as the plan has enough events (all six with 24 events over 4 groups)."""
    from chaos.traffic import baseline_delivery

    rng = random.Random(seed)
    specs = group_specs(run_id, groups)
    next_case: dict[str, int] = {}
    planned = []
    for index in range(events):
        spec = specs[index % len(specs)]
        position = index // len(specs)
        key = f"d{index:03d}"
        if position % 2 == 0:
            planned.append(PlannedEvent(key, baseline_delivery(spec, secrets, rng), spec.key))
            continue
        case_index = next_case.get(spec.provider, 0)
        next_case[spec.provider] = case_index + 1
        cases = CASES_BY_PROVIDER[spec.provider]
        result = drifted(cases[case_index % len(cases)], spec, secrets, rng)
        planned.append(PlannedEvent(key, result.delivery, spec.key, result.expectation, result.fixed_body))
    return planned
