"""Producer: signature first over the raw body, shallow checks with their status codes, durable
enqueue before the 202, claim check, status RECEIVED. Fakes for every AWS call."""

from __future__ import annotations

import hashlib
import json
import random
import time

import pytest

from handlers.producer import handle, status_url
from handlers.stores.provider_secrets import ProviderSecrets
from stack.clients.providers.github import github_delivery
from stack.clients.providers.shopify import shopify_delivery
from stack.clients.providers.stripe import stripe_delivery
from tests.helpers.producer_rig import PARAMETERS, SECRETS, Rig, order


def expected_event_id(tenant, provider, delivery_id):
    return "evt_" + hashlib.sha256(f"{tenant}\n{provider}\n{delivery_id}".encode()).hexdigest()[:32]


# --- accepted ---------------------------------------------------------------------------------


def test_signed_shopify_order_is_queued_recorded_and_acknowledged():
    rig = Rig()
    delivery = order()
    status, body = rig.post(delivery)
    assert status == 202, body
    eid = expected_event_id("acme", "shopify", delivery.delivery_id)
    assert body == {"id": eid, "status_url": f"https://abc123.execute-api.us-east-1.amazonaws.com/dev/events/{eid}"}
    [sent] = rig.sqs.sent
    assert sent["QueueUrl"] == "https://sqs/ingest.fifo"
    assert sent["MessageBody"] == delivery.body.decode()
    assert sent["MessageGroupId"] == "acme:demo-shop.myshopify.com"
    assert sent["MessageDeduplicationId"] == eid
    attributes = {k: v["StringValue"] for k, v in sent["MessageAttributes"].items()}
    assert attributes["event_id"] == eid and attributes["tenant"] == "acme"
    assert attributes["provider"] == "shopify" and attributes["topic"] == "orders/create"
    assert attributes["delivery_id"] == delivery.delivery_id and attributes["api_version"] == "2025-10"
    assert abs(int(attributes["received_at"]) - time.time() * 1000) < 60_000
    assert "claim_check" not in attributes
    [(meta, at_ms)] = rig.status.received
    assert meta.event_id == eid and str(at_ms) == attributes["received_at"]


def test_provider_retry_maps_to_the_same_event_id():
    rig = Rig()
    delivery = order()
    first = rig.post(delivery)[1]["id"]
    second = rig.post(delivery)[1]["id"]
    assert first == second
    assert [m["MessageDeduplicationId"] for m in rig.sqs.sent] == [first, first]


def test_event_id_is_scoped_per_tenant():
    rig = Rig()
    delivery = order()
    assert rig.post(delivery, tenant="acme")[1]["id"] != rig.post(delivery, tenant="globex")[1]["id"]


@pytest.mark.parametrize(
    "make, group",
    [
        (lambda: stripe_delivery("payment_intent.succeeded", SECRETS["stripe"], rng=random.Random(2)), "acme:acme"),
        (
            lambda: stripe_delivery("invoice.paid", SECRETS["stripe"], rng=random.Random(2), account="acct_9"),
            "acme:acct_9",
        ),
        (
            lambda: github_delivery("push", SECRETS["github"], rng=random.Random(2), repo="octo/widgets"),
            "acme:octo/widgets",
        ),
    ],
)
def test_other_providers_are_queued_with_their_ordering_key(make, group):
    rig = Rig()
    delivery = make()
    status, body = rig.post(delivery)
    assert status == 202, body
    [sent] = rig.sqs.sent
    assert sent["MessageGroupId"] == group
    attributes = {k: v["StringValue"] for k, v in sent["MessageAttributes"].items()}
    assert attributes["topic"] == delivery.topic and attributes["delivery_id"] == delivery.delivery_id
    assert body["id"] == expected_event_id("acme", delivery.provider, delivery.delivery_id)


def test_long_ordering_key_is_hashed_into_a_valid_group_id():
    rig = Rig()
    delivery = github_delivery("push", SECRETS["github"], rng=random.Random(2), repo="o/" + "r" * 200)
    assert rig.post(delivery)[0] == 202
    group = rig.sqs.sent[0]["MessageGroupId"]
    assert len(group) <= 128 and group.startswith("acme:")


def test_unknown_topic_and_unknown_fields_are_accepted():
    rig = Rig()
    delivery = shopify_delivery("carts/create", SECRETS["shopify"], rng=random.Random(3), extra_fields=True)
    assert rig.post(delivery)[0] == 202


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf-8"',
    ],
)
def test_json_content_types_are_accepted(content_type):
    rig = Rig()
    delivery = order()
    headers = {**delivery.headers, "Content-Type": content_type}
    assert rig.post("shopify", delivery.body, headers)[0] == 202


def test_header_names_are_case_insensitive_in_headers_and_multi_value_headers():
    rig = Rig()
    delivery = order()
    lower = {k.lower(): v for k, v in delivery.headers.items()}
    upper = {k.upper(): v for k, v in delivery.headers.items()}
    assert rig.post("shopify", delivery.body, lower)[0] == 202
    assert rig.post("shopify", delivery.body, upper)[0] == 202
    assert rig.post("shopify", delivery.body, lower, multi_value=True)[0] == 202


def test_base64_encoded_body_is_verified_over_the_decoded_bytes():
    rig = Rig()
    delivery = order()
    assert rig.post(delivery, base64_body=True)[0] == 202
    assert rig.sqs.sent[0]["MessageBody"] == delivery.body.decode()


def test_large_body_goes_to_s3_with_a_claim_check():
    rig = Rig(claim_check=20_000)
    delivery = order(size_bytes=50_000)
    status, body = rig.post(delivery)
    assert status == 202
    [sent] = rig.sqs.sent
    claim = json.loads(sent["MessageBody"])["claim_check"]
    assert sent["MessageAttributes"]["claim_check"]["StringValue"] == "1"
    assert claim["bucket"] == "payloads" and claim["key"].startswith("payloads/acme/")
    assert claim["bytes"] == 50_000 and claim["sha256"] == hashlib.sha256(delivery.body).hexdigest()
    assert rig.s3.objects[("payloads", claim["key"])] == delivery.body


def test_body_at_the_claim_check_threshold_stays_inline():
    rig = Rig(claim_check=20_000)
    assert rig.post(order(size_bytes=20_000))[0] == 202
    assert "claim_check" not in rig.sqs.sent[0]["MessageAttributes"]


def test_status_url_follows_forwarded_proto_and_host():
    event = {"requestContext": {"path": "/prod/webhooks/shopify", "domainName": "api.example.com"}}
    headers = {"x-forwarded-proto": "http", "host": "127.0.0.1:4566"}
    assert status_url(event, headers, "shopify", "evt_1") == "http://127.0.0.1:4566/prod/events/evt_1"
    assert status_url(event, {}, "shopify", "evt_1") == "https://api.example.com/prod/events/evt_1"


# --- refused, in the documented order -----------------------------------------------------------


def test_unknown_provider_is_404():
    rig = Rig()
    status, body = rig.post("paypal", b"{}", {"Content-Type": "application/json"})
    assert status == 404 and "paypal" in body["message"]


def test_provider_not_allowed_for_tenant_is_403():
    rig = Rig()
    status, body = rig.post(order(), providers="stripe,github")
    assert status == 403 and "shopify" in body["message"]
    assert rig.post(order(), tenant=None)[0] == 403
    assert rig.sqs.sent == []


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", "application/jsonp", None],
)
def test_wrong_content_type_is_415(content_type):
    rig = Rig()
    delivery = order()
    headers = {k: v for k, v in delivery.headers.items() if k != "Content-Type"}
    if content_type:
        headers["Content-Type"] = content_type
    status, body = rig.post("shopify", delivery.body, headers)
    assert status == 415 and "application/json" in body["message"]


def test_oversized_body_is_413_with_the_limit_before_the_signature_is_checked():
    rig = Rig(max_body=10_000)
    delivery = shopify_delivery("orders/create", "wrong-secret", rng=random.Random(1), size_bytes=10_001)
    status, body = rig.post(delivery)
    assert status == 413 and "10000" in body["message"]
    assert rig.parameters.calls == 0  # no secret needed to refuse it
    assert rig.post(order(size_bytes=10_000))[0] == 202


def test_wrong_shopify_signature_is_401():
    rig = Rig()
    delivery = shopify_delivery("orders/create", "not-the-secret", rng=random.Random(1))
    status, body = rig.post(delivery)
    assert status == 401 and "signature" in body["message"]
    assert rig.sqs.sent == [] and rig.status.received == []


def test_tampered_body_is_401():
    rig = Rig()
    delivery = order()
    tampered = delivery.body.replace(b'"currency":"USD"', b'"currency":"EUR"')
    assert tampered != delivery.body
    assert rig.post("shopify", tampered, dict(delivery.headers))[0] == 401


def test_missing_signature_header_is_401():
    rig = Rig()
    status, body = rig.post(order(), drop_headers=("X-Shopify-Hmac-Sha256",))
    assert status == 401 and "X-Shopify-Hmac-Sha256" in body["message"]


def test_old_stripe_timestamp_is_401():
    rig = Rig()
    delivery = stripe_delivery(
        "invoice.paid", SECRETS["stripe"], rng=random.Random(1), timestamp=int(time.time()) - 301
    )
    status, body = rig.post(delivery)
    assert status == 401 and "tolerance" in body["message"]


def test_wrong_github_signature_is_401():
    rig = Rig()
    assert rig.post(github_delivery("push", "nope", rng=random.Random(1)))[0] == 401


def test_signature_is_checked_before_json_parsing():
    rig = Rig()
    delivery = shopify_delivery("orders/create", "not-the-secret", body=b"{not json")
    assert rig.post(delivery)[0] == 401


def test_invalid_json_is_400():
    rig = Rig()
    status, body = rig.post(shopify_delivery("orders/create", SECRETS["shopify"], body=b"{not json"))
    assert status == 400 and "JSON" in body["message"]


def test_json_that_is_not_an_object_is_400():
    rig = Rig()
    status, body = rig.post(shopify_delivery("orders/create", SECRETS["shopify"], body=b"[1,2]"))
    assert status == 400 and "object" in body["message"]


def test_invalid_base64_is_400():
    rig = Rig()
    delivery = order()
    event_body = "***not base64***"
    event = {
        "pathParameters": {"provider": "shopify"},
        "headers": dict(delivery.headers),
        "requestContext": {"authorizer": {"tenant": "acme", "providers": "shopify"}},
        "body": event_body,
        "isBase64Encoded": True,
    }
    response = handle(rig.producer, event)
    assert response["statusCode"] == 400


@pytest.mark.parametrize(
    "make, header",
    [
        (lambda: order(), "X-Shopify-Topic"),
        (lambda: order(), "X-Shopify-Webhook-Id"),
        (lambda: order(), "X-Shopify-Shop-Domain"),
        (lambda: github_delivery("push", SECRETS["github"], rng=random.Random(1)), "X-GitHub-Event"),
        (lambda: github_delivery("push", SECRETS["github"], rng=random.Random(1)), "X-GitHub-Delivery"),
    ],
)
def test_missing_delivery_header_is_400(make, header):
    rig = Rig()
    status, body = rig.post(make(), drop_headers=(header,))
    assert status == 400 and header in body["message"]


@pytest.mark.parametrize("field", ["id", "type"])
def test_stripe_envelope_without_id_or_type_is_400(field):
    rig = Rig()
    document = json.loads(stripe_delivery("invoice.paid", SECRETS["stripe"], rng=random.Random(1)).body)
    del document[field]
    status, body = rig.post(stripe_delivery("invoice.paid", SECRETS["stripe"], body=json.dumps(document).encode()))
    assert status == 400 and field in body["message"]


# --- durability --------------------------------------------------------------------------------


def test_enqueue_failure_is_503_never_202():
    rig = Rig(sqs_fail=True)
    status, body = rig.post(order())
    assert status == 503 and "retry" in body["message"]
    assert rig.status.received == []  # no status for something not queued


def test_status_write_failure_after_enqueue_is_still_202():
    rig = Rig(status_fail=True)
    status, body = rig.post(order())
    assert status == 202 and len(rig.sqs.sent) == 1


def test_secret_unavailable_is_503():
    rig = Rig(ssm_fail=True)
    assert rig.post(order())[0] == 503


def test_secrets_come_from_parameter_store_decrypted_and_cached(monkeypatch):
    import boto3
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name=PARAMETERS["shopify"], Value=SECRETS["shopify"], Type="SecureString")
        calls = []
        ssm.meta.events.register(
            "provide-client-params.ssm.GetParameter", lambda params, **_: calls.append(dict(params))
        )
        provider = SSMProvider(boto3_client=ssm)
        secrets = ProviderSecrets(lambda: provider, PARAMETERS, cache_seconds=300)
        assert secrets.secret("shopify") == SECRETS["shopify"]
        assert secrets.secret("shopify") == SECRETS["shopify"]
        assert len(calls) == 1 and calls[0]["WithDecryption"] is True


def test_every_invocation_logs_one_json_line_with_the_hop_fields(caplog):
    from handlers.producer import logger

    rig = Rig()
    with caplog.at_level("INFO"):
        rig.post(order())
        rig.post("paypal", b"{}", {"Content-Type": "application/json"})
    lines = [json.loads(logger.registered_formatter.format(record)) for record in caplog.records]
    ingest = [line for line in lines if line["message"] == "ingest"]
    assert [line["status"] for line in ingest] == [202, 404]
    for line in ingest:
        assert line["function"] == "producer" and line["duration_ms"] >= 0
    assert ingest[0]["event_id"].startswith("evt_") and ingest[0]["tenant"] == "acme"
    assert SECRETS["shopify"] not in json.dumps(lines)


# --- what valid JSON means (handlers/platform/json_body.py) ------------------------------------


def _signed_shopify(body: bytes):
    return shopify_delivery("orders/create", SECRETS["shopify"], body=body)


def _signed_stripe(document_text: str):
    return stripe_delivery("invoice.paid", SECRETS["stripe"], body=document_text.encode())


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 200 levels deep"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "nested more than 200 levels deep"),
        (b'{"id": NaN, "total": Infinity}', "NaN or Infinity, which are not JSON"),
        (b'{"total": -Infinity}', "NaN or Infinity, which are not JSON"),
        (b'{"n": ' + b"9" * 5_000 + b"}", "number out of range"),
        (b'{"n": 1e400}', "beyond the range of a 64-bit float"),
        (b'{"n": ' + b"1" * 250 + b"e99}", "beyond the range of a 64-bit float"),
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b'{"a": "\xff"}', "not UTF-8: invalid byte 0xff at offset 7"),
        (b'{"a": "\\ud800"}', "not valid JSON"),
        (b"", "body is empty"),
        (b'{"a": 1} x', "not valid JSON: trailing characters"),
    ],
)
def test_signed_body_that_is_not_json_as_documented_is_400_with_its_reason(body, reason):
    rig = Rig(max_body=1_000_000)
    # Bytes that are not UTF-8 reach the function only base64-encoded (a binary media type).
    status, answer = rig.post(_signed_shopify(body), base64_body=b"\xff" in body)
    assert status == 400, answer
    assert reason in answer["message"] and "\n" not in answer["message"]
    assert rig.sqs.sent == []


def test_nesting_up_to_the_limit_and_large_exact_numbers_are_accepted():
    rig = Rig()
    nested = b'{"a":' * 199 + b"1" + b"}" * 199  # 199 objects inside the top-level one: depth 200
    assert rig.post(_signed_shopify(b'{"deep":' + nested + b"}"))[0] == 202
    assert rig.post(_signed_shopify(b'{"n": ' + b"9" * 4_300 + b', "f": 1e308, "tiny": 1e-400}'))[0] == 202


def test_duplicate_names_keep_the_last_value_as_the_workers_parser_does():
    from handlers.providers.stripe import PROVIDER as STRIPE

    text = (
        '{"id": "evt_first", "type": "invoice.paid", "id": "evt_last", "created": 1, "data": {"object": {"id": "in_1",'
        ' "object": "invoice", "customer": "cus_1", "amount_paid": 1, "amount_due": 1, "currency": "usd",'
        ' "status": "paid", "status": "open"}}}'
    )
    rig = Rig()
    assert rig.post(_signed_stripe(text))[0] == 202
    assert rig.sqs.sent[0]["MessageAttributes"]["delivery_id"]["StringValue"] == "evt_last"
    model = STRIPE.model_for("invoice.paid")
    assert model is not None
    assert model.model_validate_json(text).model_dump()["data"]["object"]["status"] == "open"


@pytest.mark.parametrize("field_text", ['"evt\\u0000x"', '"evt\\u0007"', '"\\uffff"'])
def test_envelope_field_a_queue_attribute_cannot_carry_is_400(field_text):
    rig = Rig()
    status, answer = rig.post(_signed_stripe('{"id": ' + field_text + ', "type": "invoice.paid"}'))
    assert status == 400 and "delivery id" in answer["message"]
    assert rig.sqs.sent == []


def test_body_with_characters_a_queue_message_cannot_carry_goes_by_claim_check():
    rig = Rig()
    delivery = _signed_shopify('{"note": "\ufffe"}'.encode())
    assert rig.post(delivery)[0] == 202
    [sent] = rig.sqs.sent
    assert sent["MessageAttributes"]["claim_check"]["StringValue"] == "1"
    assert "\ufffe" not in sent["MessageBody"]
    key = json.loads(sent["MessageBody"])["claim_check"]["key"]
    assert rig.s3.objects[("payloads", key)] == delivery.body


@pytest.mark.parametrize("event_body", ['{"a": "\ud800"}', 12, ["x"]])
def test_event_body_that_cannot_be_bytes_is_400(event_body):
    rig = Rig()
    event = {
        "pathParameters": {"provider": "shopify"},
        "headers": dict(order().headers),
        "requestContext": {"authorizer": {"tenant": "acme", "providers": "shopify"}},
        "body": event_body,
        "isBase64Encoded": isinstance(event_body, int),
    }
    response = handle(rig.producer, event)
    assert response["statusCode"] == 400, response


def test_a_bug_is_answered_500_with_a_reason_never_raised(monkeypatch, caplog):
    import handlers.producer

    def broken(body):
        raise RuntimeError("a bug")

    monkeypatch.setattr(handlers.producer, "read_json_body", broken)
    rig = Rig()
    with caplog.at_level("ERROR"):
        status, answer = rig.post(order())
    assert status == 500 and answer == {"message": "internal error; retry later"}
    assert rig.sqs.sent == []
    assert any(record.exc_info for record in caplog.records)
