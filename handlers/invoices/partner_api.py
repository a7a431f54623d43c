"""The third parties the steps call — the accounting API (bookings) and the payment API (charges,
refunds) — over HTTP with an Idempotency-Key on every call, so a retried step has its effect once.

An answer the caller may retry (5xx, 429, no answer in time, no connection) raises the step's
``unavailable`` error, which the state machine retries with backoff; any other 4xx raises its
``refused`` error, which it does not. Standard library HTTP: nothing to ship in the artifact.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from handlers.invoices.contract import (
    AccountingRefused,
    AccountingUnavailable,
    PaymentRefused,
    PaymentUnavailable,
    StepError,
)

BOOKINGS_PATH = "/accounting/invoices"
CHARGES_PATH = "/payments/charges"
REFUNDS_PATH = "/payments/refunds"
MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class PartnerAnswer:
    status: int
    document: dict[str, Any]
    replayed: bool  # answered from the partner's idempotency store: no effect this time


class PartnerApi:
    """``base_url`` is ``http(s)://host[:port]``; ``timeout_s`` bounds connect and each read."""

    def __init__(self, base_url: str, timeout_s: float):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"partner URL {base_url!r}: expected http(s)://HOST[:PORT]")
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._timeout_s = timeout_s

    def book(self, idempotency_key: str, invoice: dict[str, Any]) -> PartnerAnswer:
        return self._post(BOOKINGS_PATH, idempotency_key, invoice, AccountingUnavailable, AccountingRefused)

    def charge(self, idempotency_key: str, amount: int, currency: str, reference: str) -> PartnerAnswer:
        body = {"amount": amount, "currency": currency, "reference": reference}
        return self._post(CHARGES_PATH, idempotency_key, body, PaymentUnavailable, PaymentRefused)

    def refund(self, idempotency_key: str, charge_id: str) -> PartnerAnswer:
        return self._post(REFUNDS_PATH, idempotency_key, {"charge_id": charge_id}, PaymentUnavailable, PaymentRefused)

    def _post(
        self,
        path: str,
        idempotency_key: str,
        body: dict[str, Any],
        unavailable: type[StepError],
        refused: type[StepError],
    ) -> PartnerAnswer:
        connection_type = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = connection_type(self._netloc, timeout=self._timeout_s)
        payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        try:
            connection.request("POST", self._prefix + path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read(MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException) as error:  # timeouts are OSErrors
            raise unavailable(f"POST {path}: no answer ({type(error).__name__}: {error})") from None
        finally:
            connection.close()
        if response.status >= 500 or response.status == 429:
            raise unavailable(f"POST {path}: {response.status} {_message(raw)}".rstrip())
        if response.status >= 400:
            raise refused(f"POST {path}: {response.status} {_message(raw)}".rstrip())
        try:
            document = json.loads(raw)
        except ValueError:
            raise unavailable(f"POST {path}: {response.status}, the answer is not JSON") from None
        if not isinstance(document, dict):
            raise unavailable(f"POST {path}: {response.status}, the answer is not a JSON object")
        replayed = (response.getheader("Idempotent-Replayed") or "").lower() == "true"
        return PartnerAnswer(response.status, document, replayed)


def _message(raw: bytes) -> str:
    try:
        document = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace")
    return str(document.get("message", "")) if isinstance(document, dict) else ""
