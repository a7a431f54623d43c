"""The producer under test with a fake for every AWS call (Parameter Store, SQS, the status
table, S3), and a signed Shopify order to post to it."""

from __future__ import annotations

import base64
import json
import random

from handlers.contract.settings import ProducerSettings
from handlers.producer import Producer, handle
from handlers.stores.claim_check import PayloadStore
from handlers.stores.provider_secrets import ProviderSecrets
from stack.clients.providers.shopify import shopify_delivery

SECRETS = {"shopify": "shpss_one", "stripe": "whsec_two", "github": "gh_three"}
PARAMETERS = {p: f"/hookstack/dev/providers/{p}/secret" for p in SECRETS}


class FakeParameters:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.calls = 0

    def get(self, name, max_age=None, decrypt=None, **_):
        self.calls += 1
        if self.fail:
            raise ConnectionError("ssm unreachable")
        provider = name.split("/")[-2]
        return SECRETS[provider]


class FakeSqs:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.sent: list[dict] = []

    def send_message(self, **kwargs):
        if self.fail:
            raise ConnectionError("sqs unreachable")
        self.sent.append(kwargs)
        return {"MessageId": f"m-{len(self.sent)}"}


class FakeStatus:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.received: list = []

    def record_received(self, meta, at_ms):
        if self.fail:
            raise ConnectionError("dynamodb unreachable")
        self.received.append((meta, at_ms))


class FakeS3:
    def __init__(self):
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket, Key, Body, **_):
        self.objects[(Bucket, Key)] = Body

    def get_object(self, Bucket, Key):
        import io

        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


class Rig:
    def __init__(self, *, sqs_fail=False, status_fail=False, ssm_fail=False, max_body=100_000, claim_check=20_000):
        self.settings = ProducerSettings(
            events_table="events",
            queue_url="https://sqs/ingest.fifo",
            payload_bucket="payloads",
            provider_secret_parameters=PARAMETERS,
            max_body_bytes=max_body,
            claim_check_bytes=claim_check,
        )
        self.parameters = FakeParameters(ssm_fail)
        self.sqs = FakeSqs(sqs_fail)
        self.status = FakeStatus(status_fail)
        self.s3 = FakeS3()
        self.producer = Producer(
            self.settings,
            ProviderSecrets(lambda: self.parameters, PARAMETERS, 300),
            self.sqs,
            self.status,
            PayloadStore(self.s3, "payloads"),
        )

    def post(
        self,
        delivery_or_provider,
        body=None,
        headers=None,
        *,
        tenant="acme",
        providers="shopify,stripe,github",
        base64_body=False,
        multi_value=False,
        drop_headers=(),
    ):
        if isinstance(delivery_or_provider, str):
            provider = delivery_or_provider
        else:
            provider, body, headers = (
                delivery_or_provider.provider,
                delivery_or_provider.body,
                dict(delivery_or_provider.headers),
            )
        headers = {k: v for k, v in (headers or {}).items() if k.lower() not in {d.lower() for d in drop_headers}}
        event = {
            "resource": "/webhooks/{provider}",
            "path": f"/webhooks/{provider}",
            "httpMethod": "POST",
            "pathParameters": {"provider": provider},
            "requestContext": {
                "path": f"/dev/webhooks/{provider}",
                "stage": "dev",
                "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                "authorizer": {"tenant": tenant, "providers": providers} if tenant is not None else {},
            },
            "body": base64.b64encode(body).decode() if base64_body else body.decode("utf-8", "replace"),
            "isBase64Encoded": base64_body,
        }
        if multi_value:
            event["headers"] = None
            event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        else:
            event["headers"] = headers
            event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        response = handle(self.producer, event)
        return response["statusCode"], json.loads(response["body"])


def order(seed=1, **kwargs):
    return shopify_delivery("orders/create", SECRETS["shopify"], rng=random.Random(seed), **kwargs)
