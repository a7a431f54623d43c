"""The invoices queue → one Step Functions execution per invoice and round.

The execution's name is derived from the tenant, the invoice id and the round
(``contract.execution_name``): a redelivered message finds its execution started already
(``ExecutionAlreadyExists``), which is a success — an invoice never runs twice in one round. A
message that is not an invoice, or a StartExecution that failed, fails its record only (partial
batch response): SQS retries it and, after ``maxReceiveCount``, keeps it in the queue's DLQ.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from handlers.errors import MalformedMessageError
from handlers.invoices.contract import InvoiceMessage, execution_name
from handlers.invoices.settings import InvoiceStarterSettings
from handlers.invoices.store import InvoiceStore
from handlers.platform.aws_clients import client
from handlers.platform.logging_setup import elapsed_ms, function_logger

logger = function_logger("invoice-starter")


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives an execution of this machine with this name."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def _error_code(error: Exception) -> str:
    return str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))


class InvoiceStarter:
    def __init__(self, stepfunctions: Any, state_machine_arn: str, store: InvoiceStore):
        self._stepfunctions = stepfunctions
        self._state_machine_arn = state_machine_arn
        self._store = store
        self._processor = BatchProcessor(event_type=EventType.SQS)

    def start(self, message: InvoiceMessage) -> tuple[str, bool]:
        """(execution ARN, whether this call started it)."""
        name = execution_name(message.tenant, message.invoice_id, message.round)
        try:
            answer = self._stepfunctions.start_execution(
                stateMachineArn=self._state_machine_arn, name=name, input=message.model_dump_json()
            )
        except Exception as error:
            if _error_code(error) != "ExecutionAlreadyExists":
                raise
            return execution_arn(self._state_machine_arn, name), False
        return str(answer["executionArn"]), True

    def start_record(self, record: SQSRecord) -> None:
        try:
            message = InvoiceMessage.model_validate_json(record.body)
        except ValueError as error:
            raise MalformedMessageError(f"not an invoice message: {error}") from None
        started = time.perf_counter()
        arn, new = self.start(message)
        self._store.started(message.invoice_id, message.round, arn)
        logger.info(
            "invoice-starter",
            extra={
                "function": "invoice-starter",
                "invoice_id": message.invoice_id,
                "round": message.round,
                "status": "started" if new else "already-started",
                "duration_ms": elapsed_ms(started),
            },
        )

    def handle(self, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        return process_partial_response(
            event=event, record_handler=self.start_record, processor=self._processor, context=context
        )


@functools.cache
def _starter() -> InvoiceStarter:
    settings = InvoiceStarterSettings.from_env()
    store = InvoiceStore(client("dynamodb"), settings.invoices_table)
    return InvoiceStarter(client("stepfunctions"), settings.state_machine_arn, store)


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return _starter().handle(event, context)
