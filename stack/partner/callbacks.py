"""Tenants' callback endpoints: ``POST /callbacks/{tenant}`` receives a Standard Webhooks delivery.

Each request is verified with the tenant's secret by the stack's own Standard Webhooks verifier
(``handlers/providers/standard_webhooks.py``: ``v1`` signatures over ``{id}.{timestamp}.{body}``,
the timestamp within 300 s) and recorded with ``verified`` true or false and why not. The answer
is 200 ``{"received": true, "verified": …}`` whether it verified or not (the records say which),
or the failure the faults inject. Secrets are given at start (``--callback-secret
tenant=whsec_…``) or set at run time through the control API; a tenant without one is recorded
unverified.
"""

from __future__ import annotations

import re

from handlers.providers.base import SecretError, SignatureError
from handlers.providers.standard_webhooks import signing_key, verify
from stack.embedded.gateway.http_server import HttpRequest, HttpResponse
from stack.errors import UsageError
from stack.partner.answers import body_text, failure_response, json_response
from stack.partner.faults import FaultDecision
from stack.partner.records import CallbackRecord, CallbackRecords, Moment, RecordLog, callback_deliveries

TENANT_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


class CallbackSecretError(UsageError):
    """A tenant name or callback secret that cannot be used."""


def checked_secret(tenant: str, secret: str) -> tuple[str, str]:
    """``(tenant, secret)`` once both are usable, else :class:`CallbackSecretError`."""
    if not TENANT_PATTERN.fullmatch(tenant):
        raise CallbackSecretError(f"tenant {tenant!r}: 1 to 64 letters, digits, '.', '_' or '-'")
    try:
        signing_key(secret)
    except SecretError as exc:
        raise CallbackSecretError(f"tenant {tenant}: {exc}") from None
    return tenant, secret


def parse_callback_secret(text: str) -> tuple[str, str]:
    """``TENANT=whsec_…`` (the ``--callback-secret`` option) → ``(tenant, secret)``."""
    tenant, sep, secret = text.partition("=")
    if not sep or not tenant or not secret:
        raise CallbackSecretError(f"--callback-secret {text!r}: expected TENANT=SECRET (a whsec_ secret)")
    return checked_secret(tenant, secret)


class CallbackReceiver:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = dict(checked_secret(tenant, secret) for tenant, secret in secrets.items())
        self.log: RecordLog[CallbackRecord] = RecordLog()

    def set_secret(self, tenant: str, secret: str) -> None:
        tenant, secret = checked_secret(tenant, secret)
        self.secrets[tenant] = secret

    def verdict(self, tenant: str, request: HttpRequest) -> str | None:
        """None when the request verifies with the tenant's secret, else why not."""
        secret = self.secrets.get(tenant)
        if secret is None:
            return f"no callback secret for tenant {tenant}"
        headers = {name.lower(): value for name, value in request.headers}
        try:
            verify(secret, request.body, headers)
        except SignatureError as exc:
            return str(exc)
        return None

    def serve(
        self, tenant: str, request: HttpRequest, moment: Moment, decision: FaultDecision
    ) -> tuple[HttpResponse, CallbackRecord]:
        reason = self.verdict(tenant, request)
        verified = reason is None
        if decision.fail_status is not None:
            response = failure_response(decision)
        else:
            response = json_response(200, {"received": True, "verified": verified})
        record = CallbackRecord(
            seq=self.log.next_seq(),
            at_ns=moment.at_ns,
            received_at=moment.received_at,
            tenant=tenant,
            webhook_id=request.header("webhook-id"),
            webhook_timestamp=request.header("webhook-timestamp"),
            webhook_signature=request.header("webhook-signature"),
            verified=verified,
            reason=reason,
            status=response.status,
            body=body_text(request),
        )
        self.log.append(record)
        return response, record

    def records(self) -> CallbackRecords:
        callbacks = list(self.log)
        return CallbackRecords(callbacks=callbacks, deliveries=callback_deliveries(callbacks), dropped=self.log.dropped)

    def reset(self) -> None:
        """Records go; the secrets stay (those set at run time too: a test registers them once)."""
        self.log = RecordLog()
