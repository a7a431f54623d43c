"""GET /events/{id}: own events only, same 404 otherwise, timestamps in epoch ms and ISO."""

from __future__ import annotations

import json

import boto3
import pytest

from handlers.contract.message import event_id
from handlers.platform.timestamps import iso_from_ms
from handlers.status import handle
from handlers.stores.status_store import EventMeta, StatusStore

EID = event_id("acme", "shopify", "delivery-1")


@pytest.fixture
def store(moto_aws):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="events",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return StatusStore(dynamodb, "events")


def get(store, eid, tenant="acme"):
    event = {
        "pathParameters": {"id": eid},
        "requestContext": {"authorizer": {"tenant": tenant, "providers": "shopify"} if tenant else {}},
    }
    response = handle(store, event)
    return response["statusCode"], json.loads(response["body"])


META = EventMeta(EID, "acme", "shopify", "orders/create", "delivery-1", "acme:shop")


def test_own_event_shows_status_timestamps_and_topic(store):
    store.record_received(META, 1_700_000_000_123)
    store.mark_processing(META, 0, 1_700_000_000_200)
    store.mark_processed(META, 0, 1_700_000_000_350)
    status, body = get(store, EID)
    assert status == 200
    assert body["id"] == EID and body["status"] == "PROCESSED"
    assert body["provider"] == "shopify" and body["topic"] == "orders/create" and body["reason"] is None
    assert body["timestamps"]["received_at"] == {"epoch_ms": 1_700_000_000_123, "iso": "2023-11-14T22:13:20.123Z"}
    assert body["timestamps"]["processed_at"]["epoch_ms"] == 1_700_000_000_350
    assert body["attempts"] == 1 and body["deliveries"] == 1


def test_dead_lettered_event_shows_its_reason(store):
    store.record_received(META, 1)
    store.mark_dead_lettered(META, 0, 2, reason="schema mismatch: id: Field required", kind="permanent")
    status, body = get(store, EID)
    assert body["status"] == "DEAD_LETTERED" and body["reason"].startswith("schema mismatch")
    assert body["dead_letter_kind"] == "permanent" and "dead_lettered_at" in body["timestamps"]


def test_another_tenants_event_is_404_like_an_absent_one(store):
    store.record_received(META, 1)
    other = get(store, EID, tenant="globex")
    absent = get(store, event_id("acme", "shopify", "never-sent"))
    assert other == absent == (404, {"message": "event not found"})


@pytest.mark.parametrize("eid", ["", "nope", "evt_XYZ", "hookstack-worker-apply#abc"])
def test_malformed_ids_are_404(store, eid):
    assert get(store, eid)[0] == 404


def test_idempotency_records_in_the_same_table_are_not_exposed(store):
    store._client.put_item(TableName="events", Item={"id": {"S": EID}, "status": {"S": "COMPLETED"}})
    assert get(store, EID)[0] == 404  # no tenant on it


def test_no_tenant_is_403(store):
    assert get(store, EID, tenant=None)[0] == 403


def test_received_never_regresses_a_later_status_and_counts_deliveries(store):
    store.mark_processing(META, 0, 5)  # worker first (producer's write came late)
    store.record_received(META, 3)
    store.record_received(META, 9)
    _, body = get(store, EID)
    assert body["status"] == "PROCESSING" and body["deliveries"] == 2
    assert body["timestamps"]["received_at"]["epoch_ms"] == 3


def test_iso_from_ms():
    assert iso_from_ms(0) == "1970-01-01T00:00:00.000Z"
