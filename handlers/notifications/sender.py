"""The callback queue → each tenant's callback URL, signed with the tenant's Standard Webhooks
secret (``webhook-id`` = the event id, ``webhook-timestamp`` = now, body = the queue message).

Per record: 2xx delivered; 410 the receiver asked us to stop, dropped with a log line; a tenant
without a subscription, dropped and counted. Anything else (429, 5xx, another 4xx the tenant may
fix, a timeout, a refused connection) fails the record only (partial batch response) after
setting its visibility to the backoff of its attempt, or the receiver's ``Retry-After``: SQS
brings it back then, and after ``maxReceiveCount`` attempts moves it to the callback DLQ
(``hookstack callbacks replay`` sends it again).
"""

from __future__ import annotations

import functools
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from handlers.contract.message import from_sqs_attributes
from handlers.contract.settings import CallbackSenderSettings
from handlers.errors import MalformedMessageError
from handlers.notifications.contract import ATTR_EVENT_ID, ATTR_TENANT
from handlers.notifications.signing import signed_headers
from handlers.notifications.subscriptions import CallbackSubscription, SubscriptionDirectory, callback_url_problem
from handlers.platform.aws_clients import client
from handlers.platform.http_answers import parse_retry_after
from handlers.platform.logging_setup import elapsed_ms, function_logger
from handlers.platform.parameter_store import ssm_provider

logger = function_logger("callback-sender")

HTTP_TIMEOUT_SECONDS = 5.0
# The wait before attempt n+1 is the base (CALLBACK_BACKOFF_SECONDS) times BACKOFF_STEPS[n-1], the
# last step repeating: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h with the default base of 5 s.
BACKOFF_STEPS = (1, 6, 24, 120, 360, 720)
# Well under SQS's 12 h ceiling on a message's visibility since its receipt.
MAX_BACKOFF_SECONDS = 6 * 3600
# A receiver's Retry-After is honoured up to this (a misconfigured one cannot park us for days).
MAX_RETRY_AFTER_SECONDS = 3600
GONE = 410
USER_AGENT = "hookstack-callbacks/1.0"


class CallbackFailed(Exception):
    """This attempt did not deliver; the record is retried after its backoff."""


@dataclass(frozen=True)
class CallbackAnswer:
    status: int
    retry_after: str | None = None


def backoff_seconds(receive_count: int, base_seconds: int, retry_after: str | None = None, *, now: float) -> int:
    """How long the record stays hidden before its next attempt."""
    honoured = parse_retry_after(retry_after, now=now) if retry_after else None
    if honoured is not None:
        return min(honoured, MAX_RETRY_AFTER_SECONDS)
    step = BACKOFF_STEPS[min(max(receive_count, 1), len(BACKOFF_STEPS)) - 1]
    return min(base_seconds * step, MAX_BACKOFF_SECONDS)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the receiver's answer, not somewhere else to send a signed callback."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies from the environment: callbacks go straight to the tenant's endpoint.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def post_callback(url: str, body: bytes, headers: Mapping[str, str]) -> CallbackAnswer:
    """One POST; the answer's status (and ``Retry-After``). A timeout or a connection that fails
    raises ``CallbackFailed``."""
    request = urllib.request.Request(url, data=body, method="POST", headers={**headers, "User-Agent": USER_AGENT})
    try:
        with _OPENER.open(request, timeout=HTTP_TIMEOUT_SECONDS) as answer:
            return CallbackAnswer(answer.status, answer.headers.get("Retry-After"))
    except urllib.error.HTTPError as error:
        with error:
            return CallbackAnswer(error.code, error.headers.get("Retry-After") if error.headers else None)
    except (urllib.error.URLError, OSError) as error:  # timeouts are OSErrors (TimeoutError) too
        reason = getattr(error, "reason", error)
        raise CallbackFailed(f"POST {url}: {reason}") from None


def _attribute(record: SQSRecord, name: str) -> str:
    value = from_sqs_attributes(record.raw_event.get("messageAttributes")).get(name)
    if not value:
        raise MalformedMessageError(f"callback message without the {name} attribute")
    return value


class CallbackSender:
    def __init__(
        self,
        settings: CallbackSenderSettings,
        directory: SubscriptionDirectory,
        sqs: Any,
        post: Callable[[str, bytes, Mapping[str, str]], CallbackAnswer] = post_callback,
        clock: Callable[[], float] = time.time,
    ):
        self._settings = settings
        self._directory = directory
        self._sqs = sqs
        self._post = post
        self._clock = clock
        # A tenant that is down fails every record of its batch: that is callbacks failing, not the
        # function, so the answer names them all (their backoff is set) instead of raising.
        self._processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        # Outcomes since the container started (each is also one log line).
        self.counts: Counter[str] = Counter()

    def send_record(self, record: SQSRecord) -> None:
        started = time.perf_counter()
        tenant, event_id = _attribute(record, ATTR_TENANT), _attribute(record, ATTR_EVENT_ID)
        log: dict[str, Any] = {"function": "callback-sender", "tenant": tenant, "event_id": event_id}
        try:
            outcome = self._deliver(record, tenant, event_id, log)
        except CallbackFailed as failure:
            self.counts["retried"] += 1
            logger.warning("callback-sender", extra={**log, "status": "retry", "reason": str(failure)})
            raise
        finally:
            log["duration_ms"] = elapsed_ms(started)
        self.counts[outcome] += 1
        logger.info("callback-sender", extra={**log, "status": outcome})

    def _deliver(self, record: SQSRecord, tenant: str, event_id: str, log: dict[str, Any]) -> str:
        subscription = self._directory.find(tenant)
        if subscription is None:
            return "no_subscription"  # nobody to tell: not an error, and retrying cannot help
        problem = callback_url_problem(subscription.url)
        if problem:
            self._retry_later(record, None, problem)  # the tenant may fix its subscription
        body = record.body.encode("utf-8")
        headers = signed_headers(subscription.secret, event_id, body, now=self._clock())
        try:
            answer = self._post(subscription.url, body, headers)
        except CallbackFailed as failure:
            self._retry_later(record, None, str(failure))
        log["http_status"] = answer.status
        if 200 <= answer.status < 300:
            return "delivered"
        if answer.status == GONE:
            return "gone"  # the receiver asked us to stop sending this
        self._retry_later(record, answer.retry_after, _refusal(subscription, answer))

    def _retry_later(self, record: SQSRecord, retry_after: str | None, reason: str) -> NoReturn:
        """Hide the record for its backoff, then fail it (raises ``CallbackFailed``)."""
        receive_count = int(record.attributes.approximate_receive_count or 1)
        delay = backoff_seconds(receive_count, self._settings.backoff_seconds, retry_after, now=self._clock())
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._settings.callback_queue_url,
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=delay,
            )
        except Exception as error:  # noqa: BLE001 - the record still fails: it returns after the queue's own timeout
            logger.warning("callback backoff not set", extra={"event_id": record.message_id, "error": str(error)})
        raise CallbackFailed(f"{reason}; attempt {receive_count}, next in {delay} s")

    def handle(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        return process_partial_response(
            event=event, record_handler=self.send_record, processor=self._processor, context=context
        )


def _refusal(subscription: CallbackSubscription, answer: CallbackAnswer) -> str:
    return f"{subscription.url} answered {answer.status}"


@functools.cache
def _sender() -> CallbackSender:
    settings = CallbackSenderSettings.from_env()
    directory = SubscriptionDirectory(ssm_provider, settings.callback_parameter_path, settings.secret_cache_seconds)
    return CallbackSender(settings, directory, client("sqs"))


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return _sender().handle(event, context)
