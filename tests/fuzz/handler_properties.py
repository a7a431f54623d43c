"""The handlers' entry points as properties over arbitrary input: each returns one of its
documented answers with a one-line reason, never raises, and the producer accepts exactly the
bodies the documented JSON rules accept (checked against an independent reading by the standard
library) — bodies the worker's parser reads the same way."""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any, cast

from pydantic import TypeAdapter

from handlers.authorizer import TokenAuthorizer, Unauthorized
from handlers.authorizer import handle as authorize
from handlers.contract.settings import ProducerSettings
from handlers.platform.json_body import MAX_NESTING_DEPTH, JsonBodyError, read_json_body
from handlers.producer import Producer
from handlers.producer import handle as ingest
from handlers.status import handle as look_up
from handlers.stores.claim_check import PayloadStore
from handlers.stores.provider_secrets import ProviderSecrets
from handlers.stores.status_store import StatusStore
from handlers.stores.tenant_directory import TenantDirectory
from stack.clients.providers import PROVIDERS, REGISTRY
from stack.clients.providers.stripe import sign_stripe
from tests.helpers.producer_rig import FakeS3, FakeStatus

SECRETS = {name: REGISTRY[name].new_secret() for name in PROVIDERS}
PARAMETERS = {name: f"/hookstack/fuzz/providers/{name}/secret" for name in PROVIDERS}
MAX_BODY_BYTES = 1_000_000
CLAIM_CHECK_BYTES = 2_000
# The producer's answers with healthy dependencies (503 is for a failing SQS / Parameter Store).
PRODUCER_STATUSES = {202, 400, 401, 403, 404, 413, 415}
STATUS_STATUSES = {200, 403, 404}

# What SQS accepts (SendMessage): message body and attribute characters, group and dedup ids.
_SQS_TEXT = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
_SQS_ID = re.compile(r"[\x21-\x7e]{1,128}")


class SqsRefused(Exception):
    """What real SQS would refuse (the fake raises it; the producer must never reach it)."""


class StrictSqs:
    """SendMessage with the checks SQS makes on a message: a send SQS would refuse raises."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **message: Any) -> dict[str, str]:
        if not _SQS_TEXT.fullmatch(message["MessageBody"]) or len(message["MessageBody"].encode()) > 262_144:
            raise SqsRefused("message body")
        for key in ("MessageGroupId", "MessageDeduplicationId"):
            if not _SQS_ID.fullmatch(message[key]):
                raise SqsRefused(key)
        for name, attribute in message["MessageAttributes"].items():
            if not _SQS_TEXT.fullmatch(attribute["StringValue"]) or not attribute["StringValue"]:
                raise SqsRefused(f"attribute {name}")
        self.sent.append(message)
        return {"MessageId": f"m-{len(self.sent)}"}


class _Parameters:
    def get(self, name: str, max_age: int | None = None, decrypt: bool | None = None, **_: Any) -> str:
        return SECRETS[name.split("/")[-2]]


def new_producer() -> tuple[Producer, StrictSqs, FakeS3]:
    settings = ProducerSettings(
        events_table="events",
        queue_url="https://sqs/ingest.fifo",
        payload_bucket="payloads",
        provider_secret_parameters=PARAMETERS,
        max_body_bytes=MAX_BODY_BYTES,
        claim_check_bytes=CLAIM_CHECK_BYTES,
    )
    sqs, s3 = StrictSqs(), FakeS3()
    parameters = _Parameters()
    secrets = ProviderSecrets(lambda: cast(Any, parameters), PARAMETERS, 300)
    return Producer(settings, secrets, sqs, FakeStatus(), PayloadStore(s3, "payloads")), sqs, s3  # type: ignore[arg-type]


def proxy_event(provider: Any, headers: Mapping[str, str], body: bytes, context: Any) -> dict[str, Any]:
    """The event API Gateway builds: text as received, base64 when it is not UTF-8 (a binary type)."""
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    return {
        "resource": "/webhooks/{provider}",
        "path": f"/webhooks/{provider}",
        "httpMethod": "POST",
        "pathParameters": {"provider": provider},
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": {"path": f"/dev/webhooks/{provider}", "stage": "dev", "authorizer": context},
        "body": text,
        "isBase64Encoded": is_base64,
    }


def signed_headers(provider: str, body: bytes) -> dict[str, str]:
    """The headers of a validly signed delivery of ``body``."""
    if provider == "stripe":
        # The Stripe client reads the event id from the body with json.loads, which raises
        # RecursionError on deep bodies: sign directly.
        return {
            "Content-Type": "application/json",
            "Stripe-Signature": sign_stripe(SECRETS[provider], body, int(time.time())),
        }
    return REGISTRY[provider].delivery(REGISTRY[provider].default_topic, SECRETS[provider], body=body).headers


def _answer(response: Mapping[str, Any], statuses: set[int]) -> tuple[int, dict[str, Any]]:
    status = response["statusCode"]
    assert status in statuses, response
    payload = json.loads(response["body"])
    if status >= 400:
        message = payload["message"]
        assert isinstance(message, str) and message and "\n" not in message and len(message) <= 300, payload
    return status, payload


# --- the JSON rules --------------------------------------------------------------------------------


class _NotJson(Exception):
    pass


_SURROGATE = re.compile("[\ud800-\udfff]")
_STRING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _refuse_constant(name: str) -> None:
    raise _NotJson(name)


def _checked_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Every name and string of an object, those a later duplicate replaces included.
    for name, value in pairs:
        if _SURROGATE.search(name) or (isinstance(value, str) and _SURROGATE.search(value)):
            raise _NotJson("unpaired surrogate")
    return dict(pairs)


def _too_deep(text: str) -> bool:
    """Whether a value (a name included) sits inside more than the limit's arrays and objects,
    read off the text itself: strings become one placeholder, then the brackets are counted."""
    depth = 0
    for character in _STRING_TOKEN.sub('"', text):
        if character in "[{":
            if depth > MAX_NESTING_DEPTH:
                return True
            depth += 1
        elif character in "]}":
            depth -= 1
        elif character not in " \t\r\n,:" and depth > MAX_NESTING_DEPTH:
            return True
    return False


def reference_reading(body: bytes) -> tuple[bool, Any]:
    """The documented rules read independently, with the standard library's parser."""
    try:
        text = body.decode("utf-8")
        document = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_checked_object)
    except (UnicodeDecodeError, ValueError, RecursionError, _NotJson):
        return False, None
    if _too_deep(text):
        return False, None
    pending: list[Any] = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict | list):
            pending.extend(value.values() if isinstance(value, dict) else value)
        elif isinstance(value, float) and not math.isfinite(value):
            return False, None
        elif isinstance(value, str) and _SURROGATE.search(value):
            return False, None
    return True, document


_WORKER_READER = TypeAdapter(Any)


def check_json_rules(body: bytes) -> str:
    """The producer's reader agrees with the reference, and what it accepts the worker reads alike."""
    try:
        text, document = read_json_body(body)
        accepted = True
    except JsonBodyError as error:
        reason = str(error)
        assert reason and "\n" not in reason and len(reason) <= 300, reason
        accepted = False
    reference_accepted, reference_document = reference_reading(body)
    assert accepted == reference_accepted, (body[:200], accepted)
    if accepted:
        assert text == body.decode("utf-8")
        assert document == reference_document
        assert _WORKER_READER.validate_json(body) == document
    return "accepted" if accepted else "refused"


# --- the producer --------------------------------------------------------------------------------------


def check_unsigned_ingest(provider: Any, headers: dict[str, str], body: bytes, context: Any) -> str:
    """Any request: one of the documented answers; nothing queued that SQS would refuse."""
    producer, sqs, _ = new_producer()
    status, _ = _answer(ingest(producer, proxy_event(provider, headers, body, context)), PRODUCER_STATUSES)
    assert (status == 202) == bool(sqs.sent)
    return str(status)


def check_signed_ingest(provider: str, body: bytes, extra_headers: dict[str, str]) -> str:
    """A validly signed body: 202 with the body queued byte for byte, or 400 with a reason; 202
    only for a body the documented rules accept, and 400 for every body they refuse."""
    producer, sqs, s3 = new_producer()
    headers = {**extra_headers, **signed_headers(provider, body)}
    context = {"tenant": "acme", "providers": ",".join(PROVIDERS)}
    status, payload = _answer(ingest(producer, proxy_event(provider, headers, body, context)), {202, 400, 413})
    accepted, document = reference_reading(body)
    if status == 202:
        assert accepted and isinstance(document, dict), body[:200]
        [message] = sqs.sent
        if "claim_check" in message["MessageAttributes"]:
            key = json.loads(message["MessageBody"])["claim_check"]["key"]
            assert s3.objects[("payloads", key)] == body
        else:
            assert message["MessageBody"].encode() == body
        assert payload["id"] == message["MessageDeduplicationId"]
    elif status == 413:
        assert len(body) > MAX_BODY_BYTES
    else:
        assert not sqs.sent
    if not accepted:
        assert status in (400, 413)
    return str(status)


# --- the status endpoint and the authorizer ------------------------------------------------------


class _Table:
    def __init__(self, items: dict[str, dict[str, Any]]):
        self.items = items

    def get_item(self, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        item = self.items.get(Key["id"]["S"])
        return {"Item": item} if item is not None else {}


def check_status_lookup(event_id: Any, context: Any, stored: dict[str, Any] | None) -> str:
    """Any id, any authorizer context, any stored item shape: 200, 403 or 404."""
    items = {"evt_" + "0" * 32: stored} if stored is not None else {}
    store = StatusStore(_Table(items), "events")
    event = {"pathParameters": {"id": event_id}, "requestContext": {"authorizer": context}}
    return str(_answer(look_up(store, event), STATUS_STATUSES)[0])


class _TenantParameters:
    def get_multiple(self, path: str, **_: Any) -> dict[str, str]:
        return {
            "acme/token": "tok_acme",
            "acme/providers": "shopify",
            "ipbound/token": "tok_ip",
            "ipbound/source-ips": "10.0.0.0/8",
        }


def check_authorizer(headers: dict[str, str], query: dict[str, str] | None, source_ip: Any, method_arn: Any) -> str:
    """Any request: a policy (Allow or Deny), or Unauthorized (API Gateway's 401) — nothing else."""
    parameters = _TenantParameters()
    directory = TenantDirectory(lambda: cast(Any, parameters), "/hookstack/fuzz/tenants/", 300)
    authorizer = TokenAuthorizer(directory, "X-Hookstack-Token")
    event = {
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": headers,
        "queryStringParameters": query,
        "requestContext": {"identity": {"sourceIp": source_ip}},
    }
    try:
        result = authorize(authorizer, event)
    except Unauthorized:
        return "Unauthorized"
    [statement] = result["policyDocument"]["Statement"]
    assert statement["Effect"] in ("Allow", "Deny")
    return str(statement["Effect"])
