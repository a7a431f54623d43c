"""Ingestion: verify, check shallowly, queue durably, answer 202 — fast.

Order of checks (each cheap check before any that needs a secret or parses the body):
  1. provider known .............................. 404
  2. provider allowed for the tenant (authorizer)  403
  3. Content-Type application/json [; charset=utf-8]  415
  4. body size <= MAX_BODY_BYTES ................. 413 (a body that cannot be bytes: 400)
  5. provider signature over the raw body ........ 401 (secret unavailable: 503)
  6. body is JSON as docs/providers.md defines it (RFC 8259 read by the worker's parser:
     handlers/platform/json_body.py) and an object .. 400
  7. delivery headers / envelope fields present, in text a queue attribute can carry .. 400
Then: claim check to S3 when large (or when the body holds U+FFFE/U+FFFF, which an SQS message
body cannot carry), SendMessage (failure → 503 so the provider retries: never a
202 for something not durably queued), status RECEIVED (failure after a successful send is logged
and still answered 202: the message is queued and the worker's writes create the record).
Unknown fields and unknown topics are accepted. For any event the answer is one of these statuses
with a one-line reason (tests/fuzz checks it over arbitrary bodies and headers); should a bug
raise anyway, the answer is a 500 with a reason and the traceback is logged, never a function error.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from typing import Any

from handlers.contract.message import (
    ATTR_API_VERSION,
    ATTR_CLAIM_CHECK,
    ATTR_DELIVERY_ID,
    ATTR_EVENT_ID,
    ATTR_PROVIDER,
    ATTR_RECEIVED_AT,
    ATTR_TENANT,
    ATTR_TOPIC,
    event_id,
    message_group_id,
    to_sqs_attributes,
)
from handlers.contract.settings import ProducerSettings
from handlers.faults import FaultContext, FaultInjector
from handlers.platform.api_gateway import authorizer_context, json_response, lowercase_headers, path_parameter, raw_body
from handlers.platform.aws_clients import client
from handlers.platform.json_body import JsonBodyError, read_json_body
from handlers.platform.logging_setup import elapsed_ms, function_logger
from handlers.platform.parameter_store import ssm_provider
from handlers.providers.base import Delivery, DeliveryError, SecretError, SignatureError
from handlers.providers.registry import REGISTRY
from handlers.stores.claim_check import PayloadStore
from handlers.stores.provider_secrets import ProviderSecrets
from handlers.stores.status_store import EventMeta, StatusStore

logger = function_logger("producer")


# Characters an SQS message attribute or body cannot carry (everything outside #x9 | #xA | #xD |
# #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF); SendMessage would fail, and a 503 would make the
# provider retry a delivery that can never be queued.
_NOT_ATTRIBUTE_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# The only such characters valid JSON text can hold raw (control characters must be escaped).
_NOT_MESSAGE_BODY_TEXT = ("\ufffe", "\uffff")


# The answer to an unexpected failure (a bug: fuzzing finds none): the sender retries.
INTERNAL_ERROR = "internal error; retry later"


class Rejection(Exception):
    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _is_json_content_type(value: str | None) -> bool:
    if not value:
        return False
    media_type, *params = (part.strip().lower() for part in value.split(";"))
    if media_type != "application/json":
        return False
    for param in params:
        name, _, charset = param.partition("=")
        if name.strip() == "charset" and charset.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


def describe_delivery(provider: str, headers: Mapping[str, str], document: Mapping[str, Any]) -> Delivery:
    """Topic, delivery id and ordering key of a verified delivery, as its provider module names
    them (400 when one is missing, 404 for an unknown provider)."""
    if provider not in REGISTRY:
        raise Rejection(404, f"unknown provider {provider!r}")
    try:
        delivery = REGISTRY[provider].describe(headers, document)
    except DeliveryError as error:
        raise Rejection(400, str(error)) from None
    for name, value in (
        ("topic", delivery.topic),
        ("delivery id", delivery.delivery_id),
        ("ordering key", delivery.ordering_key),
        ("API version", delivery.api_version),
    ):
        if value is not None and _NOT_ATTRIBUTE_TEXT.search(value):
            raise Rejection(400, f"the delivery's {name} holds characters a queue message attribute cannot carry")
    return delivery


def status_url(event: Mapping[str, Any], headers: Mapping[str, str], provider: str, new_event_id: str) -> str:
    """Where GET /events/{id} is for this request: same scheme, host and stage."""
    scheme = (headers.get("x-forwarded-proto") or "https").split(",")[0].strip()
    request_context = event.get("requestContext") or {}
    host = headers.get("host") or request_context.get("domainName") or ""
    path = request_context.get("path") or event.get("path") or f"/webhooks/{provider}"
    suffix = f"webhooks/{provider}"
    base = path[: -len(suffix)] if path.endswith(suffix) else path.rstrip("/") + "/"
    return f"{scheme}://{host}{base}events/{new_event_id}"


class Producer:
    def __init__(
        self,
        settings: ProducerSettings,
        secrets: ProviderSecrets,
        sqs: Any,
        status: StatusStore,
        payloads: PayloadStore,
        clock: Any = time.time,
        faults: FaultInjector | None = None,
    ):
        self._settings = settings
        self._faults = faults or FaultInjector()  # chaos drills' run-time faults (no-op by default)
        self._secrets = secrets
        self._sqs = sqs
        self._status = status
        self._payloads = payloads
        self._clock = clock

    def ingest(self, event: Mapping[str, Any], log: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._ingest(event, log)
        except Rejection as rejection:
            log["reason"] = rejection.message
            return json_response(rejection.status_code, {"message": rejection.message})
        except Exception:  # noqa: BLE001 - a bug answers a documented 500 (logged with its traceback), never a 502
            logger.exception("ingest failed", extra={"provider": log.get("provider")})
            log["reason"] = INTERNAL_ERROR
            return json_response(500, {"message": INTERNAL_ERROR})

    def _ingest(self, event: Mapping[str, Any], log: dict[str, Any]) -> dict[str, Any]:
        provider = path_parameter(event, "provider") or ""
        log["provider"] = provider
        if provider not in REGISTRY or not self._secrets.configured(provider):
            raise Rejection(404, f"unknown provider {provider!r}")

        context = authorizer_context(event)
        tenant = str(context.get("tenant") or "")
        log["tenant"] = tenant
        allowed = {p.strip() for p in str(context.get("providers") or "").split(",")}
        if not tenant or provider not in allowed:
            raise Rejection(403, f"provider {provider!r} is not enabled for this tenant")

        headers = lowercase_headers(event)
        if not _is_json_content_type(headers.get("content-type")):
            raise Rejection(415, "Content-Type must be application/json")
        try:
            body = raw_body(event)
        except ValueError as error:
            raise Rejection(400, str(error)) from None
        if len(body) > self._settings.max_body_bytes:
            raise Rejection(413, f"body is {len(body)} bytes; the limit is {self._settings.max_body_bytes} bytes")

        try:
            secret = self._secrets.secret(provider)
        except Exception:
            logger.exception("signing secret unavailable", extra={"provider": provider})
            raise Rejection(503, "signing secret unavailable; retry later") from None
        try:
            REGISTRY[provider].verify(secret, body, headers, now=self._clock())
        except SignatureError as error:
            raise Rejection(401, str(error)) from None
        except SecretError:
            logger.exception("signing secret unusable", extra={"provider": provider})
            raise Rejection(503, "signing secret unavailable; retry later") from None

        try:
            text, document = read_json_body(body)
        except JsonBodyError as error:
            raise Rejection(400, str(error)) from None
        if not isinstance(document, dict):
            raise Rejection(400, "body must be a JSON object")
        delivery = describe_delivery(provider, headers, document)
        log["topic"] = delivery.topic
        return self._enqueue(event, headers, tenant, delivery, body, text, log)

    def _enqueue(
        self,
        event: Mapping[str, Any],
        headers: Mapping[str, str],
        tenant: str,
        delivery: Delivery,
        body: bytes,
        text: str,
        log: dict[str, Any],
    ) -> dict[str, Any]:
        new_event_id = event_id(tenant, delivery.provider, delivery.delivery_id)
        log["event_id"] = new_event_id
        received_at = int(self._clock() * 1000)
        group = message_group_id(tenant, delivery.ordering_key or tenant)
        attributes = {
            ATTR_EVENT_ID: new_event_id,
            ATTR_TENANT: tenant,
            ATTR_PROVIDER: delivery.provider,
            ATTR_TOPIC: delivery.topic,
            ATTR_DELIVERY_ID: delivery.delivery_id,
            ATTR_RECEIVED_AT: str(received_at),
        }
        if delivery.api_version:
            attributes[ATTR_API_VERSION] = delivery.api_version
        try:
            self._faults.before_enqueue(
                FaultContext(
                    function="producer",
                    tenant=tenant,
                    provider=delivery.provider,
                    topic=delivery.topic,
                    group=group,
                    event_id=new_event_id,
                )
            )
            message_body = text
            if len(body) > self._settings.claim_check_bytes or any(c in text for c in _NOT_MESSAGE_BODY_TEXT):
                message_body = self._payloads.put(tenant, new_event_id, body).to_message_body()
                attributes[ATTR_CLAIM_CHECK] = "1"
                log["claim_check"] = True
            self._sqs.send_message(
                QueueUrl=self._settings.queue_url,
                MessageBody=message_body,
                MessageGroupId=group,
                MessageDeduplicationId=new_event_id,
                MessageAttributes=to_sqs_attributes(attributes),
            )
        except Exception:
            logger.exception("enqueue failed", extra={"event_id": new_event_id})
            raise Rejection(503, "could not queue the delivery; retry later") from None

        meta = EventMeta(new_event_id, tenant, delivery.provider, delivery.topic, delivery.delivery_id, group)
        try:
            self._status.record_received(meta, received_at)
        except Exception:
            # Queued durably already; the worker's status writes create the record.
            logger.exception("status write failed after enqueue", extra={"event_id": new_event_id})
            log["status_write"] = "failed"
        return json_response(
            202, {"id": new_event_id, "status_url": status_url(event, headers, delivery.provider, new_event_id)}
        )


@functools.cache
def _producer() -> Producer:
    settings = ProducerSettings.from_env()
    secrets = ProviderSecrets(ssm_provider, settings.provider_secret_parameters, settings.secret_cache_seconds)
    return Producer(
        settings,
        secrets,
        client("sqs"),
        StatusStore(client("dynamodb"), settings.events_table),
        PayloadStore(client("s3"), settings.payload_bucket),
        faults=FaultInjector.from_env(),
    )


def handle(producer: Producer, event: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    log: dict[str, Any] = {"event_id": None}
    response = producer.ingest(event, log)
    logger.info(
        "ingest",
        extra={"function": "producer", "duration_ms": elapsed_ms(started), "status": response["statusCode"], **log},
    )
    return response


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(_producer(), event)
