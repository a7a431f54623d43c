"""Run-time fault injection for chaos drills: switched on and off without redeploying.

The faults live in one SSM parameter (``FAULTS_PARAMETER``, JSON), read through Powertools'
parameters with ``max_age=FAULTS_CACHE_SECONDS``, the way failure-lambda and chaos-lambda do it.
A missing parameter means no faults; one that is malformed or cannot be read means no faults and
one error log line per cache period: a chaos switch must never break ingestion. Every fault
carries an absolute expiry (epoch seconds), so a forgotten one turns itself off.

Hook points (``function`` / ``point`` → allowed ``action``):

- ``producer`` / ``enqueue``: ``latency`` (before SendMessage), ``error`` (SendMessage fails as SQS
  fails: the producer answers 503, never 202).
- ``worker`` / ``write``: ``latency`` (slow downstream), ``error`` (DynamoDB InternalServerError),
  ``throttle`` (a botocore ClientError ProvisionedThroughputExceededException or
  ThrottlingException, as DynamoDB raises it), ``skip`` (sabotage: the write is skipped but the
  event reported applied — only for proving that a drill's reconciler catches loss).
- ``worker`` / ``after_write``: ``latency`` (the write landed, then the function hangs past its
  timeout), ``crash`` (``os._exit`` after the N-th business write of one invocation: mid-batch).
- ``worker`` / ``partner``: ``error`` (HTTP 5xx), ``timeout``, ``latency``. The worker has no
  partner call yet: this point sits where it would notify one, and raises what a real 5xx
  (``PartnerCallError``) or timeout (``TimeoutError``) would.

Scope: ``tenants``, ``providers``, ``topics``, ``groups`` (shell patterns; empty = all),
``percentage`` of matching calls, ``max_attempt`` (only while the SQS receive count is at most
this). While ``applied_log_until`` is in the future the worker also appends every business write
to a per-group applied log (drills read it to check processing order).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handlers.platform.logging_setup import function_logger

logger = function_logger("faults")

Function = Literal["producer", "worker"]
Point = Literal["enqueue", "write", "after_write", "partner"]
Action = Literal["latency", "error", "throttle", "timeout", "crash", "skip"]

ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("producer", "enqueue"): ("latency", "error"),
    ("worker", "write"): ("latency", "error", "throttle", "skip"),
    ("worker", "after_write"): ("latency", "crash"),
    ("worker", "partner"): ("latency", "error", "timeout"),
}
THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")
MAX_LATENCY_MS = 900_000  # Lambda's longest timeout
MAX_FAULTS = 50
CRASH_EXIT_CODE = 70


class Fault(BaseModel):
    """One fault: where it applies, what it does, to which traffic, until when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
    function: Function
    point: Point
    action: Action
    expires_at: int = Field(gt=0, description="epoch seconds; the fault is off from then on")
    percentage: float = Field(100.0, ge=0, le=100)
    tenants: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    max_attempt: int | None = Field(None, ge=1)
    latency_ms: int = Field(0, ge=0, le=MAX_LATENCY_MS)
    after_writes: int = Field(1, ge=1, le=10)
    error_code: str | None = None
    status_code: int = Field(503, ge=500, le=599)
    note: str = Field("", max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> Fault:
        allowed = ACTIONS.get((self.function, self.point))
        if allowed is None:
            raise ValueError(f"the {self.function} has no hook point {self.point!r}")
        if self.action not in allowed:
            raise ValueError(f"{self.function}/{self.point} supports {', '.join(allowed)}, not {self.action!r}")
        if self.action == "latency" and self.latency_ms <= 0:
            raise ValueError("a latency fault needs latency_ms > 0")
        if self.action == "throttle" and self.error_code not in (None, *THROTTLE_CODES):
            raise ValueError(f"throttle error_code must be one of {', '.join(THROTTLE_CODES)}")
        return self

    def is_active(self, now: float) -> bool:
        return now < self.expires_at

    def matches(self, context: FaultContext) -> bool:
        if self.max_attempt is not None and context.attempt > self.max_attempt:
            return False
        return all(
            _any_match(patterns, value)
            for patterns, value in (
                (self.tenants, context.tenant),
                (self.providers, context.provider),
                (self.topics, context.topic),
                (self.groups, context.group),
            )
        )


def _any_match(patterns: tuple[str, ...], value: str) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


class FaultConfig(BaseModel):
    """The whole parameter value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    faults: tuple[Fault, ...] = Field((), max_length=MAX_FAULTS)
    applied_log_until: int = Field(0, ge=0, description="epoch seconds; 0 = no applied log")
    updated_at: int | None = None
    updated_by: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _unique_ids(self) -> FaultConfig:
        ids = [fault.id for fault in self.faults]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate fault ids: {duplicates}")
        return self

    def active(self, now: float) -> tuple[Fault, ...]:
        return tuple(fault for fault in self.faults if fault.is_active(now))

    def applied_log_on(self, now: float) -> bool:
        return now < self.applied_log_until


NO_FAULTS = FaultConfig()


@dataclass(frozen=True)
class FaultContext:
    """What a hook knows about the call it sits in."""

    function: str
    tenant: str = ""
    provider: str = ""
    topic: str = ""
    group: str = ""
    event_id: str = ""
    attempt: int = 1  # SQS ApproximateReceiveCount (the producer: 1)
    generation: int = 0  # replays so far


class PartnerCallError(Exception):
    """What a partner client raises when the partner answers HTTP 5xx: transient, retried."""

    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code


def _is_missing_parameter(error: BaseException) -> bool:
    # Powertools wraps the botocore error in GetParameterError (the original is its context).
    for candidate in (error, error.__cause__, error.__context__):
        response = getattr(candidate, "response", None) or {}
        if response.get("Error", {}).get("Code") == "ParameterNotFound":
            return True
    return "ParameterNotFound" in str(error)


class ParameterFaults:
    """The current fault configuration from the SSM parameter.

    Powertools caches the raw value for ``cache_seconds``; the parsed form is kept while the raw
    value is unchanged. A missing or unusable parameter is remembered for ``cache_seconds`` too, so
    no state of the parameter costs more than one GetParameter per cache period per container."""

    def __init__(
        self, name: str, cache_seconds: int, provider_factory: Callable[[], Any], clock: Callable[[], float] = time.time
    ):
        self._name = name
        self._cache_seconds = max(0, cache_seconds)
        self._provider_factory = provider_factory
        self._clock = clock
        self._raw: str | None = None
        self._parsed: FaultConfig = NO_FAULTS
        self._fallback_until = 0.0

    def current(self) -> FaultConfig:
        now = self._clock()
        if now < self._fallback_until:
            return NO_FAULTS
        try:
            raw = self._provider_factory().get(self._name, max_age=self._cache_seconds)
        except Exception as error:  # noqa: BLE001 - any read failure means no faults, never a failed invocation
            self._fallback_until = now + self._cache_seconds
            if not _is_missing_parameter(error):
                logger.error(
                    "fault configuration unreadable: no faults",
                    extra={
                        "function": "faults",
                        "parameter": self._name,
                        "error": f"{type(error).__name__}: {error}"[:300],
                    },
                )
            return NO_FAULTS
        if raw == self._raw:
            return self._parsed
        try:
            parsed = FaultConfig.model_validate_json(raw)
        except (ValidationError, ValueError) as error:
            self._fallback_until = now + self._cache_seconds
            logger.error(
                "fault configuration malformed: no faults",
                extra={"function": "faults", "parameter": self._name, "error": str(error).replace("\n", " ")[:500]},
            )
            return NO_FAULTS
        self._raw, self._parsed = raw, parsed
        return parsed


class _NoFaults:
    def current(self) -> FaultConfig:
        return NO_FAULTS


class FaultInjector:
    """The hooks a handler calls. Without a configured parameter every hook is a no-op."""

    def __init__(
        self,
        source: Any = None,
        *,
        applied_log: Callable[..., None] | None = None,
        rng: Callable[[], float] = random.random,
        sleep: Callable[[float], None] = time.sleep,
        exit: Callable[[int], None] = os._exit,
        clock: Callable[[], float] = time.time,
    ):
        self._source = source or _NoFaults()
        self._applied_log = applied_log
        self._rng = rng
        self._sleep = sleep
        self._exit = exit
        self._clock = clock
        self._writes: dict[str, int] = {}

    @classmethod
    def from_env(cls, *, applied_log: Callable[..., None] | None = None, env: Any = os.environ) -> FaultInjector:
        name = (env.get("FAULTS_PARAMETER") or "").strip()
        if not name:
            return cls(applied_log=applied_log)
        try:
            cache_seconds = int(env.get("FAULTS_CACHE_SECONDS") or "2")
        except ValueError:
            cache_seconds = 2
        # At least 1 s: every call to the handler must not become a GetParameter.
        return cls(ParameterFaults(name, max(1, cache_seconds), _fault_parameter_provider), applied_log=applied_log)

    def _firing(self, point: str, context: FaultContext) -> list[Fault]:
        now = self._clock()
        fired = []
        for fault in self._source.current().active(now):
            if fault.function != context.function or fault.point != point or not fault.matches(context):
                continue
            if fault.percentage < 100 and self._rng() * 100 >= fault.percentage:
                continue
            fired.append(fault)
        # Latency first: a slow call that then fails is slow *and* fails.
        return sorted(fired, key=lambda fault: fault.action != "latency")

    def _log(self, fault: Fault, context: FaultContext) -> None:
        logger.warning(
            "fault injected",
            extra={
                "function": context.function,
                "fault_id": fault.id,
                "point": fault.point,
                "action": fault.action,
                "event_id": context.event_id or None,
                "attempt": context.attempt,
            },
        )

    # --- hooks ---------------------------------------------------------------------------------

    def begin_invocation(self) -> None:
        """The worker calls this per batch: ``crash`` counts writes within one invocation."""
        self._writes.clear()

    def before_enqueue(self, context: FaultContext) -> None:
        for fault in self._firing("enqueue", context):
            self._log(fault, context)
            if fault.action == "latency":
                self._sleep(fault.latency_ms / 1000)
            elif fault.action == "error":
                raise ClientError(
                    {"Error": {"Code": "ServiceUnavailable", "Message": f"injected fault {fault.id}"}}, "SendMessage"
                )

    def before_write(self, context: FaultContext) -> bool:
        """Latency, error or throttling before the business write. True: skip the write (sabotage)."""
        skip = False
        for fault in self._firing("write", context):
            self._log(fault, context)
            if fault.action == "latency":
                self._sleep(fault.latency_ms / 1000)
            elif fault.action == "error":
                raise ClientError(
                    {"Error": {"Code": "InternalServerError", "Message": f"injected fault {fault.id}"}}, "UpdateItem"
                )
            elif fault.action == "throttle":
                code = fault.error_code or THROTTLE_CODES[0]
                raise ClientError({"Error": {"Code": code, "Message": f"injected fault {fault.id}"}}, "UpdateItem")
            elif fault.action == "skip":
                skip = True
        return skip

    def after_write(self, context: FaultContext, applied: bool) -> None:
        """Right after the business write: the applied log, then latency or a crash."""
        config = self._source.current()
        if applied and self._applied_log is not None and config.applied_log_on(self._clock()):
            try:
                self._applied_log(
                    tenant=context.tenant,
                    group=context.group,
                    event_id=context.event_id,
                    generation=context.generation,
                    at_ms=int(self._clock() * 1000),
                )
            except Exception as error:  # noqa: BLE001 - a drill's trace must never fail a record whose write landed
                logger.error(
                    "applied log not written",
                    extra={
                        "function": context.function,
                        "event_id": context.event_id,
                        "error": f"{type(error).__name__}: {error}"[:300],
                    },
                )
        for fault in self._firing("after_write", context):
            if fault.action == "latency":
                self._log(fault, context)
                self._sleep(fault.latency_ms / 1000)
            elif fault.action == "crash" and applied:
                self._writes[fault.id] = self._writes.get(fault.id, 0) + 1
                if self._writes[fault.id] >= fault.after_writes:
                    self._log(fault, context)
                    self._exit(CRASH_EXIT_CODE)

    def partner_call(self, context: FaultContext) -> None:
        """Where the worker would notify a partner: a real 5xx or timeout surfaces as these errors."""
        for fault in self._firing("partner", context):
            self._log(fault, context)
            if fault.action == "latency":
                self._sleep(fault.latency_ms / 1000)
            elif fault.action == "timeout":
                self._sleep(fault.latency_ms / 1000)
                raise TimeoutError(f"partner call timed out after {fault.latency_ms} ms (injected fault {fault.id})")
            elif fault.action == "error":
                raise PartnerCallError(
                    fault.status_code, f"partner answered HTTP {fault.status_code} (injected fault {fault.id})"
                )


@functools.cache
def _fault_parameter_provider() -> Any:
    """A Powertools SSMProvider on its own client: short timeouts and no retries, so an SSM
    hiccup costs one fast failure per cache period instead of slowing every request."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})
    return SSMProvider(boto3_client=boto3.session.Session().client("ssm", config=config))
