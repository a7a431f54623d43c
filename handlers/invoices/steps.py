"""What every step of an invoice's execution shares: the invoice read from the execution's state
(the starter's message, plus what earlier steps added beside it), and one log line per step."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from handlers.invoices.contract import InvoiceMessage
from handlers.platform.logging_setup import elapsed_ms, function_logger


def execution_invoice(state: Mapping[str, Any]) -> InvoiceMessage:
    """The invoice of this execution: the message fields of the state (steps add others beside)."""
    return InvoiceMessage.model_validate({name: state[name] for name in InvoiceMessage.model_fields if name in state})


def run_step(step: str, state: Mapping[str, Any], work: Callable[[InvoiceMessage], dict[str, Any]]) -> dict[str, Any]:
    """``work`` on the execution's invoice; a log line either way, the error re-raised as it is
    (its class name is what the state machine's Retry and Catch match)."""
    logger = function_logger(f"invoice-{step}")
    started = time.perf_counter()
    invoice = execution_invoice(state)
    log = {"function": f"invoice-{step}", "invoice_id": invoice.invoice_id, "round": invoice.round}
    try:
        result = work(invoice)
    except Exception as error:
        logger.warning(
            f"invoice-{step}",
            extra={**log, "status": type(error).__name__, "reason": str(error), "duration_ms": elapsed_ms(started)},
        )
        raise
    logger.info(f"invoice-{step}", extra={**log, "status": "ok", "duration_ms": elapsed_ms(started)})
    return result
