"""Worker: deep validation (pydantic DTOs) and the exactly-once business write, per SQS FIFO batch.

Per record, on the happy path one DynamoDB call:
  load body (claim check) → validate → [partner] → TransactWriteItems(projection, status PROCESSED)
  The transaction is conditional on the event's status item (see handlers/stores/exactly_once.py):
  a redelivered, replayed or concurrently processed event that was already applied is a duplicate
  (success, nothing written twice), never a failure.
  permanent failure (schema mismatch, corrupt claim check, malformed message): SendMessage to the
    DLQ at once with the reason, status DEAD_LETTERED, and the record counts as a success (deleted);
  transient failure (anything else, a transaction cancelled for another reason included): status
    PROCESSING with the attempt, raise, SQS retries; on the last allowed receive the status becomes
    DEAD_LETTERED first so it never stays PROCESSING while the message sits in the DLQ.
The partner is notified before the write, so PROCESSED means every step is done; a retry after
the write notifies it again (at least once, keyed by the event id).
Batch semantics: SqsFifoPartialProcessor(skip_group_on_error=True) — a failure stops its message
group (the rest of that group is reported failed, order kept), other groups carry on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from pydantic import ValidationError

from handlers.contract.message import ClaimCheck, DeadLetterKind
from handlers.contract.queue_message import QueueMessage
from handlers.contract.settings import WorkerSettings
from handlers.errors import SKIPPED_BEHIND_FAILURE, PermanentError
from handlers.faults import FaultContext, FaultInjector
from handlers.platform.aws_clients import client
from handlers.platform.json_body import JsonBodyError, read_json_body
from handlers.platform.logging_setup import elapsed_ms, function_logger
from handlers.providers.registry import model_for
from handlers.stores.claim_check import PayloadStore
from handlers.stores.dead_letters import DeadLetterQueue
from handlers.stores.exactly_once import ApplyOutcome, ExactlyOnceWriter
from handlers.stores.projections import Projection, ProjectionStore
from handlers.stores.status_store import Attempt, EventMeta, StatusStore

logger = function_logger("worker")

# Unknown topics are stored whole when they fit comfortably in a DynamoDB item (400 KB cap).
GENERIC_PAYLOAD_LIMIT = 256 * 1024

PERMANENT_ERRORS: tuple[type[Exception], ...] = (PermanentError, ValidationError)


def failure_reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in issue['loc']) or '(body)'}: {issue['msg']}" for issue in error.errors()[:8]
        )
        more = f" (+{error.error_count() - 8} more)" if error.error_count() > 8 else ""
        return f"schema mismatch: {problems}{more}"
    return f"{type(error).__name__}: {error}"[:500]


def generic_projection(event_id: str, body: str) -> Projection:
    """An event hookstack has no DTO for, or whose envelope model keeps it whole (projection() is
    None): kept as received, keyed by its event id."""
    fields: dict[str, Any] = {"bytes": len(body.encode("utf-8"))}
    if len(body) <= GENERIC_PAYLOAD_LIMIT:
        fields["payload"] = body
    return Projection("event", event_id, fields)


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        *,
        status: StatusStore,
        projections: ProjectionStore,
        payloads: PayloadStore,
        dead_letters: DeadLetterQueue,
        clock: Any = time.time,
        faults: FaultInjector | None = None,
    ):
        self._settings = settings
        self._faults = faults or FaultInjector()  # chaos drills' run-time faults (no-op by default)
        self._status = status
        self._writer = ExactlyOnceWriter(status, projections)
        self._payloads = payloads
        self._dead_letters = dead_letters
        self._clock = clock
        self._processor = SqsFifoPartialProcessor(skip_group_on_error=True)
        # Report every record failed instead of raising when all fail: same retry, and the warm
        # container survives (an exception costs a cold start on some runtimes).
        self._processor.raise_on_entire_batch_failure = False

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # --- the business step, applied at most once per event id ---------------------------------

    def _load_body(self, message: QueueMessage) -> str:
        if not message.is_claim_check:
            return message.body
        try:
            claim = ClaimCheck.from_message_body(message.body)
        except (ValueError, KeyError, TypeError) as error:
            raise PermanentError(f"unreadable claim check: {error}") from None
        try:
            return self._payloads.get(claim).decode("utf-8")
        except UnicodeDecodeError:
            raise PermanentError("claim-checked body is not UTF-8") from None

    def _projection(self, message: QueueMessage, meta: EventMeta) -> Projection:
        """Deep validation: what the event writes, or a permanent error."""
        body = self._load_body(message)
        model = model_for(meta.provider, meta.topic)
        projection = model.model_validate_json(body).projection() if model is not None else None
        if projection is None:  # no model, or a validated envelope stored as received
            if model is None:
                try:
                    read_json_body(body.encode("utf-8"))  # the producer's rules: no depth can raise here
                except JsonBodyError as error:
                    raise PermanentError(str(error)) from None
            projection = generic_projection(meta.event_id, body)
        return projection

    def _apply(self, message: QueueMessage, meta: EventMeta, attempt: Attempt) -> ApplyOutcome:
        projection = self._projection(message, meta)
        fault_context = FaultContext(
            function="worker",
            tenant=meta.tenant,
            provider=meta.provider,
            topic=meta.topic,
            group=message.group_id,
            event_id=meta.event_id,
            attempt=message.receive_count,
            generation=message.generation,
        )
        self._faults.partner_call(fault_context)  # where a partner would be notified (no real call yet)
        if self._faults.before_write(fault_context):
            # Sabotage fault: reported applied, never written (drills prove they notice).
            self._status.mark_processed(meta, message.generation, self._now_ms(), attempt=attempt)
            outcome = ApplyOutcome.APPLIED
        else:
            outcome = self._writer.apply(
                projection, meta, generation=message.generation, attempt=attempt, at_ms=self._now_ms()
            )
        self._faults.after_write(fault_context, outcome == ApplyOutcome.APPLIED)
        return outcome

    # --- one record ----------------------------------------------------------------------------

    def process_record(self, record: Any) -> dict[str, Any]:
        started = time.perf_counter()
        message = QueueMessage.from_record(record)
        log: dict[str, Any] = {
            "function": "worker",
            "event_id": message.event_id,
            "group": message.group_id,
            "receive_count": message.receive_count,
            "generation": message.generation,
        }
        if message.sent_timestamp_ms:
            log["queue_wait_ms"] = max(0, self._now_ms() - message.sent_timestamp_ms)
        try:
            outcome = self._process(message, log)
        except Exception as error:
            log.update(status="retry", reason=failure_reason(error), duration_ms=elapsed_ms(started))
            logger.warning("record", extra=log)
            raise
        log.update(status=outcome, duration_ms=elapsed_ms(started))
        logger.info("record", extra=log)
        return log

    def _process(self, message: QueueMessage, log: dict[str, Any]) -> str:
        attempt = Attempt(self._now_ms(), message.receive_count)
        try:
            message.require_contract()
            meta = message.meta()
            outcome = self._apply(message, meta, attempt)
        except PERMANENT_ERRORS as error:
            reason = failure_reason(error)
            log["reason"] = reason
            try:
                self._dead_letter_now(message, reason, attempt)
            except Exception as dlq_error:
                # Could not dead-letter it ourselves: retry, and SQS redrives it after the last one.
                self._record_failed_attempt(message, attempt)
                self._if_last_attempt(message, f"{reason} (dead-letter send failed: {failure_reason(dlq_error)})")
                raise
            return "dead_lettered"
        except Exception as error:
            self._record_failed_attempt(message, attempt)
            self._if_last_attempt(message, failure_reason(error))
            raise
        if meta.received_at:
            log["end_to_end_ms"] = self._now_ms() - meta.received_at
        log["written"] = outcome == ApplyOutcome.APPLIED
        return "processed" if outcome == ApplyOutcome.APPLIED else outcome.value

    def _record_failed_attempt(self, message: QueueMessage, attempt: Attempt) -> None:
        """PROCESSING with the attempt's start and receive count: the event is being retried."""
        if not message.has_contract():
            return
        try:
            self._status.mark_processing(
                message.meta(), message.generation, attempt.started_ms, receive_count=attempt.receive_count
            )
        except Exception:
            logger.exception("could not record the failed attempt", extra={"event_id": message.event_id})

    def _dead_letter_now(self, message: QueueMessage, reason: str, attempt: Attempt) -> None:
        at_ms = self._now_ms()
        self._dead_letters.send(
            body=message.body,
            group_id=message.group_id,
            attributes=message.attributes,
            reason=reason,
            kind=DeadLetterKind.PERMANENT,
            at_ms=at_ms,
            deduplication_key=f"{message.event_id or message.message_id}\n{message.generation}",
        )
        if message.has_contract():  # a malformed message has no status item to update
            self._status.mark_dead_lettered(
                message.meta(),
                message.generation,
                at_ms,
                reason=reason,
                kind=DeadLetterKind.PERMANENT,
                attempt=attempt,
            )
        logger.warning(
            "dead-lettered",
            extra={
                "function": "worker",
                "event_id": message.event_id,
                "status": "dead_lettered",
                "reason": reason,
                "kind": DeadLetterKind.PERMANENT,
            },
        )

    def _if_last_attempt(self, message: QueueMessage, reason: str) -> None:
        """SQS moves the message to the DLQ after this receive: say so in the status now."""
        if message.receive_count < self._settings.max_receive_count or not message.has_contract():
            return
        try:
            self._status.mark_dead_lettered(
                message.meta(),
                message.generation,
                self._now_ms(),
                reason=f"retries exhausted: {reason}",
                kind=DeadLetterKind.TRANSIENT,
            )
        except Exception:
            logger.exception("could not record DEAD_LETTERED on the last attempt", extra={"event_id": message.event_id})

    # --- one batch -----------------------------------------------------------------------------

    def _record_exhausted_skips(self, event: Mapping[str, Any], response: Mapping[str, Any]) -> None:
        """Records skipped behind a failed one of their group are received (and counted) too: on
        their last allowed receive SQS moves them to the DLQ with it, so their status must say so.
        For records that were attempted this repeats nothing (a status never moves sideways)."""
        failed = {f.get("itemIdentifier") for f in response.get("batchItemFailures", [])}
        for record in event.get("Records") or []:
            if record.get("messageId") in failed:
                self._if_last_attempt(QueueMessage.from_record(record), SKIPPED_BEHIND_FAILURE)

    def handle(self, event: Mapping[str, Any], context: Any) -> PartialItemFailureResponse:
        started = time.perf_counter()
        self._faults.begin_invocation()
        response = process_partial_response(
            event=dict(event), record_handler=self.process_record, processor=self._processor, context=context
        )
        self._record_exhausted_skips(event, response)
        logger.info(
            "batch",
            extra={
                "function": "worker",
                "event_id": None,
                "status": "batch",
                "records": len(event.get("Records") or []),
                "failures": len(response.get("batchItemFailures", [])),
                "duration_ms": elapsed_ms(started),
            },
        )
        return response


@functools.cache
def _worker() -> Worker:
    settings = WorkerSettings.from_env()
    dynamodb = client("dynamodb")
    projections = ProjectionStore(dynamodb, settings.projections_table)
    return Worker(
        settings,
        status=StatusStore(dynamodb, settings.events_table),
        projections=projections,
        payloads=PayloadStore(client("s3"), settings.payload_bucket),
        dead_letters=DeadLetterQueue(client("sqs"), settings.dlq_url),
        faults=FaultInjector.from_env(applied_log=projections.append_applied_log),
    )


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return _worker().handle(event, context)
