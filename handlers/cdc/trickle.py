"""The CDC queue → the rate-limited third party, one run per schedule tick (or ``hookstack
schedule fire``): whatever the incoming rate, the outgoing one stays within the partner's.

A run sends at most ``TRICKLE_MAX_MESSAGES`` items, at most ``TRICKLE_RATE_PER_S`` requests per
second, the oldest first (a FIFO receive returns each group's oldest message). Per message:

- 2xx: delivered, then deleted — never deleted before the partner said so.
- 429, 5xx, 408, a timeout or a refused connection: the partner cannot take more now. The message
  stays (hidden for the partner's ``Retry-After``, or a short backoff; SQS brings it back in
  order), the messages received behind it are released untouched, and the run stops. The warm
  function also waits out the ``Retry-After`` before its next run's first request.
- Any other 4xx: the partner will never take this item. It goes to the DLQ with the reason
  (sent there, then deleted), and the run goes on — never retried forever.

The API key is a SecureString read through Parameter Store (cached for ``SECRET_CACHE_SECONDS``);
it goes into one header and nowhere else, logs included.
"""

from __future__ import annotations

import functools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError

from handlers.cdc.contract import (
    ATTR_DEAD_LETTER_REASON,
    GROUP_KEY_HEADER,
    IDEMPOTENCY_KEY_HEADER,
    PARTNER_ITEMS_PATH,
    ItemMessage,
)
from handlers.contract.settings import CdcTrickleSettings
from handlers.platform.aws_clients import client
from handlers.platform.http_answers import parse_retry_after
from handlers.platform.logging_setup import elapsed_ms, function_logger
from handlers.platform.parameter_store import ssm_provider

logger = function_logger("cdc-trickle")

HTTP_TIMEOUT_SECONDS = 5.0
RECEIVE_MAX = 10  # SQS's ReceiveMessage limit
# A run stops taking messages when less than this is left of the invocation.
RUN_MARGIN_MS = int(HTTP_TIMEOUT_SECONDS * 1000) + 5000
# Without a Retry-After, a refused item waits this long before SQS shows it again.
TRANSIENT_BACKOFF_SECONDS = 5
# A partner's Retry-After is honoured up to this (a misconfigured one cannot park the queue for days).
MAX_RETRY_AFTER_SECONDS = 900
# Answers that mean "not now" rather than "never".
TRANSIENT_CLIENT_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "hookstack-cdc-trickle/1.0"


class PartnerUnreachableError(Exception):
    """No answer from the partner: a timeout or a connection that failed."""


@dataclass(frozen=True)
class PartnerAnswer:
    status: int
    retry_after: str | None = None

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        return self.status >= 500 or self.status in TRANSIENT_CLIENT_STATUSES


# No proxies from the environment: items go straight to the partner.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post_item(url: str, body: bytes, headers: Mapping[str, str]) -> PartnerAnswer:
    """One POST; the answer's status (and ``Retry-After``). No answer raises PartnerUnreachableError."""
    request = urllib.request.Request(url, data=body, method="POST", headers={**headers, "User-Agent": USER_AGENT})
    try:
        with _OPENER.open(request, timeout=HTTP_TIMEOUT_SECONDS) as answer:
            return PartnerAnswer(answer.status, answer.headers.get("Retry-After"))
    except urllib.error.HTTPError as error:
        with error:
            return PartnerAnswer(error.code, error.headers.get("Retry-After") if error.headers else None)
    except (urllib.error.URLError, OSError) as error:  # timeouts are OSErrors (TimeoutError) too
        raise PartnerUnreachableError(f"POST {url}: {getattr(error, 'reason', error)}") from None


@dataclass
class RunReport:
    """What one run did; returned to the caller and logged."""

    delivered: int = 0
    dead_lettered: int = 0
    released: int = 0  # received behind a stop, handed back untouched
    delete_failures: int = 0
    refused_status: int | None = None  # the transient answer that stopped the run
    paused_s: float = 0.0  # waited out before the first request (an earlier Retry-After)
    stopped: str = "drained"  # drained | max_messages | refused | out_of_time | paused
    groups: list[str] = field(default_factory=list)  # groups sent to, in first-send order


class Trickle:
    def __init__(
        self,
        settings: CdcTrickleSettings,
        sqs: Any,
        api_key: Callable[[], str],
        post: Callable[[str, bytes, Mapping[str, str]], PartnerAnswer] = post_item,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._sqs = sqs
        self._api_key = api_key
        self._post = post
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._interval_s = 1.0 / settings.rate_per_s
        # When the partner last asked us to wait until (monotonic); kept across warm runs.
        self._paused_until = 0.0
        self._next_send_at = 0.0

    def run(self, remaining_ms: Callable[[], int]) -> RunReport:
        report = RunReport()
        if not self._wait_out_pause(report, remaining_ms):
            return report
        key = self._api_key()  # before any receive: without it nothing is taken off the queue
        attempted = 0
        while True:
            if attempted >= self._settings.max_messages:
                report.stopped = "max_messages"
                return report
            if remaining_ms() < RUN_MARGIN_MS:
                report.stopped = "out_of_time"
                return report
            wanted = min(RECEIVE_MAX, self._settings.max_messages - attempted)
            messages = self._sqs.receive_message(
                QueueUrl=self._settings.cdc_queue_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                report.stopped = "drained"
                return report
            for index, message in enumerate(messages):
                attempted += 1
                if not self._send(message, key, report):
                    report.stopped = "refused"
                    self._release(messages[index + 1 :], report)
                    return report

    # --- one message ---

    def _send(self, message: Mapping[str, Any], key: str, report: RunReport) -> bool:
        """Deliver (or dead-letter) one message; False when the partner refused it for now."""
        try:
            item = ItemMessage.model_validate_json(message["Body"])
        except ValidationError as error:
            return self._dead_letter(message, f"not an item message: {error.error_count()} error(s)", report)
        body = _json_bytes(item.item)
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {key}",
            GROUP_KEY_HEADER: item.group,
            IDEMPOTENCY_KEY_HEADER: item.sequence_number,
        }
        self._pace()
        try:
            answer = self._post(self._settings.partner_url + PARTNER_ITEMS_PATH, body, headers)
        except PartnerUnreachableError as failure:
            self._refused(message, None, TRANSIENT_BACKOFF_SECONDS, report, str(failure))
            return False
        if answer.delivered:
            if item.group not in report.groups:
                report.groups.append(item.group)
            self._delete(message, report)
            report.delivered += 1
            return True
        if answer.transient:
            self._refused(message, answer.status, self._backoff_s(answer), report, f"partner answered {answer.status}")
            return False
        return self._dead_letter(message, f"partner answered {answer.status}", report)

    def _pace(self) -> None:
        """At most ``rate_per_s`` request starts per second, across runs of this warm function."""
        now = self._clock()
        if self._next_send_at > now:
            self._sleep(self._next_send_at - now)
            now = self._next_send_at
        self._next_send_at = now + self._interval_s

    def _backoff_s(self, answer: PartnerAnswer) -> int:
        honoured = parse_retry_after(answer.retry_after, now=self._wall_clock()) if answer.retry_after else None
        if honoured is None:
            return TRANSIENT_BACKOFF_SECONDS
        return max(1, min(honoured, MAX_RETRY_AFTER_SECONDS))

    def _refused(
        self, message: Mapping[str, Any], status: int | None, backoff_s: int, report: RunReport, reason: str
    ) -> None:
        """Leave the message for later: hidden for the backoff, then SQS shows it again, in order."""
        report.refused_status = status
        self._paused_until = self._clock() + backoff_s
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._settings.cdc_queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=backoff_s,
            )
        except Exception as error:  # noqa: BLE001  (its visibility timeout brings it back all the same)
            logger.warning("cdc-trickle", extra={"status": "visibility_not_set", "reason": repr(error)})
        logger.warning(
            "cdc-trickle", extra={"function": "cdc-trickle", "status": "refused", "reason": reason, "wait_s": backoff_s}
        )

    def _release(self, messages: list[Mapping[str, Any]], report: RunReport) -> None:
        for message in messages:
            try:
                self._sqs.change_message_visibility(
                    QueueUrl=self._settings.cdc_queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            except Exception as error:  # noqa: BLE001  (its visibility timeout brings it back all the same)
                logger.warning("cdc-trickle", extra={"status": "release_failed", "reason": repr(error)})
            report.released += 1

    def _delete(self, message: Mapping[str, Any], report: RunReport) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self._settings.cdc_queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception as error:  # noqa: BLE001  (delivered: a redelivery carries the same Idempotency-Key)
            report.delete_failures += 1
            logger.warning("cdc-trickle", extra={"status": "delete_failed", "reason": repr(error)})

    def _dead_letter(self, message: Mapping[str, Any], reason: str, report: RunReport) -> bool:
        """To the DLQ with the reason, then off the queue. A failed DLQ send leaves the message
        where it is (its visibility timeout brings it back) and stops the run: False."""
        attributes = message.get("Attributes") or {}
        try:
            self._sqs.send_message(
                QueueUrl=self._settings.cdc_dlq_url,
                MessageBody=message["Body"],
                MessageGroupId=attributes.get("MessageGroupId") or "unknown",
                MessageDeduplicationId=message["MessageId"],
                MessageAttributes={ATTR_DEAD_LETTER_REASON: {"DataType": "String", "StringValue": reason}},
            )
        except Exception as error:  # noqa: BLE001  (not lost: still on the queue)
            logger.warning("cdc-trickle", extra={"status": "dead_letter_failed", "reason": repr(error)})
            return False
        self._delete(message, report)
        report.dead_lettered += 1
        logger.warning("cdc-trickle", extra={"function": "cdc-trickle", "status": "dead_lettered", "reason": reason})
        return True

    def _wait_out_pause(self, report: RunReport, remaining_ms: Callable[[], int]) -> bool:
        """Honour the partner's last Retry-After; False when it outlasts this run."""
        wait_s = self._paused_until - self._clock()
        if wait_s <= 0:
            return True
        if wait_s * 1000 > remaining_ms() - RUN_MARGIN_MS:
            report.stopped = "paused"
            return False
        self._sleep(wait_s)
        report.paused_s = round(wait_s, 3)
        return True


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _remaining_ms(context: Any) -> Callable[[], int]:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return lambda: int(remaining())
    return lambda: 10**9  # no context (a local call): max_messages and the rate bound the run


@functools.cache
def _trickle() -> Trickle:
    settings = CdcTrickleSettings.from_env()

    def api_key() -> str:
        value = ssm_provider().get(settings.api_key_parameter, max_age=settings.secret_cache_seconds, decrypt=True)
        return str(value)

    return Trickle(settings, client("sqs"), api_key, post=post_item)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    report = _trickle().run(_remaining_ms(context))
    answer = {**asdict(report), "groups": len(report.groups)}
    logger.info(
        "cdc-trickle",
        extra={
            "function": "cdc-trickle",
            "trigger": event.get("detail-type") if isinstance(event, dict) else None,
            "status": report.stopped,
            **{k: v for k, v in answer.items() if k != "stopped"},
            "duration_ms": elapsed_ms(started),
        },
    )
    return answer
