"""A typed client of the partner simulator's control API, for tests, drills and load runs:
set and clear faults, register callback secrets, read records, reset. Standard library HTTP,
straight to the partner (never a proxy)."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

from stack.errors import HookstackError
from stack.partner.faults import FaultSettings
from stack.partner.records import (
    AccountingRecords,
    ApiName,
    CallbackRecords,
    PaymentRecords,
    TrickleRecords,
)

CONTROL_PREFIX = "/_partner"
WAIT_POLL_S = 0.05


class PartnerError(HookstackError):
    """The partner did not answer, or refused a control request (``status``; None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PartnerClient:
    """``url`` is the partner's base URL (``http://127.0.0.1:PORT``)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise PartnerError(f"partner URL {url!r}: expected http://HOST:PORT")
        self.url = url.rstrip("/")
        self._netloc = parts.netloc
        self._timeout_s = timeout_s

    # --- where the partner APIs are, for the code under test ---

    def callback_url(self, tenant: str) -> str:
        return f"{self.url}/callbacks/{tenant}"

    @property
    def accounting_url(self) -> str:
        return f"{self.url}/accounting/invoices"

    @property
    def charges_url(self) -> str:
        return f"{self.url}/payments/charges"

    @property
    def refunds_url(self) -> str:
        return f"{self.url}/payments/refunds"

    def trickle_url(self, path: str = "records") -> str:
        return f"{self.url}/trickle/{path.lstrip('/')}"

    # --- control ---

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def set_faults(self, api: ApiName | str, **settings: Any) -> dict[str, FaultSettings]:
        """Change ``api``'s faults (``"all"``: every API); the fields given replace theirs, e.g.
        ``set_faults("callbacks", outage=True)``, ``set_faults("trickle", rate_limit_per_s=5)``.
        Fields: those of :class:`FaultSettings`. Returns every API's faults now in force."""
        return self._faults(self._call("POST", "/faults", {"api": api, **settings}))

    def clear_faults(self, api: ApiName | str = "all", **settings: Any) -> dict[str, FaultSettings]:
        """Back to the faults the partner started with (then ``settings``, if any, applied)."""
        return self._faults(self._call("POST", "/faults", {"api": api, "clear": True, **settings}))

    def faults(self) -> dict[str, FaultSettings]:
        return self._faults(self._call("GET", "/faults"))

    def set_callback_secret(self, tenant: str, secret: str) -> None:
        """The ``whsec_`` secret the tenant's callbacks are verified with (replaces any before)."""
        self._call("PUT", f"/callback-secrets/{tenant}", {"secret": secret})

    def callback_tenants(self) -> list[str]:
        return list(self._call("GET", "/callback-secrets")["tenants"])

    def reset(self) -> None:
        """Every record and idempotency key gone, faults back to the start-up ones (secrets stay)."""
        self._call("POST", "/reset", {})

    # --- records ---

    def callbacks(self) -> CallbackRecords:
        return CallbackRecords.model_validate(self._call("GET", "/records/callbacks"))

    def accounting(self) -> AccountingRecords:
        return AccountingRecords.model_validate(self._call("GET", "/records/accounting"))

    def payments(self) -> PaymentRecords:
        return PaymentRecords.model_validate(self._call("GET", "/records/payments"))

    def trickle(self) -> TrickleRecords:
        return TrickleRecords.model_validate(self._call("GET", "/records/trickle"))

    def wait_for_deliveries(self, count: int, *, timeout_s: float = 10.0) -> CallbackRecords:
        """The callback records once ``count`` deliveries (distinct webhook-ids) are delivered;
        :class:`PartnerError` if they are not within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            records = self.callbacks()
            delivered = sum(1 for delivery in records.deliveries if delivery.delivered)
            if delivered >= count:
                return records
            if time.monotonic() > deadline:
                raise PartnerError(f"{delivered} of {count} callbacks delivered after {timeout_s:g} s")
            time.sleep(WAIT_POLL_S)

    # --- transport ---

    @staticmethod
    def _faults(answer: dict[str, Any]) -> dict[str, FaultSettings]:
        return {api: FaultSettings.model_validate(settings) for api, settings in answer.items()}

    def _call(self, method: str, path: str, payload: object | None = None) -> dict[str, Any]:
        target = CONTROL_PREFIX + path
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection = http.client.HTTPConnection(self._netloc, timeout=self._timeout_s)
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise PartnerError(f"the partner at {self.url} did not answer {method} {target}: {exc}") from None
        finally:
            connection.close()
        try:
            answer = json.loads(raw)
        except ValueError:
            raise PartnerError(f"{method} {target}: {response.status}, not JSON", response.status) from None
        if response.status != 200:
            message = answer.get("message") if isinstance(answer, dict) else None
            raise PartnerError(f"{method} {target}: {response.status} {message or ''}".rstrip(), response.status)
        if not isinstance(answer, dict):
            raise PartnerError(f"{method} {target}: not a JSON object", response.status)
        return answer
