"""The partner's faults, per API, changeable at run time: latency, an error rate drawn from a seeded
RNG, outages (now, or in windows after the faults were set), the status to fail with, and for the
trickle API its rate limit.

Order of a decision: an outage answers first (nothing happens during one), then the error rate.
An injected error fails before the effect (nothing booked or charged) unless ``fail_after_effect``:
then the effect lands and the answer is the error, the case an idempotency key exists for. The
latency is added to every answer, failures included, after the effect: a client that times out
meanwhile has had its effect applied all the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stack.errors import UsageError
from stack.partner.records import API_NAMES, ApiName

MAX_LATENCY_MS = 60_000  # every answer comes within a minute, however a drill sets it
FAIL_STATUS_DEFAULT = 503
FaultCause = Literal["outage", "error"]


class FaultError(UsageError):
    """Faults that cannot be set as given (an unknown API or field, a value out of range)."""


class OutageWindow(BaseModel):
    """``[start_s, end_s)`` seconds after the faults were set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> OutageWindow:
        if self.end_s <= self.start_s:
            raise ValueError("an outage window ends after it starts")
        return self


class FaultSettings(BaseModel):
    """One API's faults. The defaults are a healthy partner."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=MAX_LATENCY_MS)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    status: int = Field(default=FAIL_STATUS_DEFAULT, ge=400, le=599)  # what outages and errors answer
    fail_after_effect: bool = False
    outage: bool = False
    outage_windows: tuple[OutageWindow, ...] = ()
    seed: int = 0
    # The trickle API only: None is no limit.
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=1_000_000)
    burst: int = Field(default=1, ge=1, le=1_000_000)


TRICKLE_ONLY = ("rate_limit_per_s", "burst")


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What the faults make of one request."""

    latency_s: float
    fail_status: int | None
    cause: FaultCause | None
    after_effect: bool  # the failure answers after the effect has landed

    @property
    def fails_before_effect(self) -> bool:
        return self.fail_status is not None and not self.after_effect

    @property
    def fails_after_effect(self) -> bool:
        return self.fail_status is not None and self.after_effect


class ApiFaults:
    """One API's settings in force, since when, and the RNG its error rate draws from (seeded by
    ``seed`` and the API's name: the same requests in the same order fail the same way)."""

    def __init__(self, api: ApiName, settings: FaultSettings, set_at_ns: int) -> None:
        self.api = api
        self.settings = settings
        self.set_at_ns = set_at_ns
        self._rng = random.Random(f"{settings.seed}:{api}")

    def in_outage(self, now_ns: int) -> bool:
        if self.settings.outage:
            return True
        since_s = (now_ns - self.set_at_ns) / 1e9
        return any(window.start_s <= since_s < window.end_s for window in self.settings.outage_windows)

    def decide(self, now_ns: int) -> FaultDecision:
        settings = self.settings
        latency_s = settings.latency_ms / 1000
        if self.in_outage(now_ns):
            return FaultDecision(latency_s, settings.status, "outage", after_effect=False)
        # Drawn for every request while a rate is set, so a run's failures depend only on the order.
        if settings.error_rate > 0 and self._rng.random() < settings.error_rate:
            return FaultDecision(latency_s, settings.status, "error", after_effect=settings.fail_after_effect)
        return FaultDecision(latency_s, None, None, after_effect=False)


class FaultBoard:
    """Every API's faults: set, cleared and read at run time; ``reset`` goes back to the faults
    the partner started with."""

    def __init__(self, initial: dict[ApiName, FaultSettings], now_ns: int) -> None:
        self._initial = {api: initial.get(api, FaultSettings()) for api in API_NAMES}
        self._faults = {api: ApiFaults(api, self._initial[api], now_ns) for api in API_NAMES}

    def __getitem__(self, api: ApiName) -> ApiFaults:
        return self._faults[api]

    def settings(self) -> dict[str, FaultSettings]:
        return {api: faults.settings for api, faults in self._faults.items()}

    def update(self, change: dict[str, Any], now_ns: int) -> dict[str, FaultSettings]:
        """Apply one control request: ``{"api": NAME | "all", "clear": bool, <field>: value, ...}``.
        ``clear`` first goes back to the start-up faults; the fields given then replace theirs.
        Raises :class:`FaultError` (nothing changed) when any part cannot be applied."""
        if not isinstance(change, dict):
            raise FaultError("faults: expected a JSON object")
        fields = dict(change)
        target = fields.pop("api", None)
        clear = fields.pop("clear", False)
        if target != "all" and target not in API_NAMES:
            raise FaultError(f"faults: api must be one of {', '.join(API_NAMES)} or all, not {target!r}")
        if not isinstance(clear, bool):
            raise FaultError("faults: clear must be true or false")
        apis: tuple[ApiName, ...] = API_NAMES if target == "all" else (target,)
        trickle_only = sorted(set(fields) & set(TRICKLE_ONLY))
        if trickle_only and apis != ("trickle",):
            raise FaultError(f"faults: {', '.join(trickle_only)} applies to the trickle API only")
        updated: dict[ApiName, FaultSettings] = {}
        for api in apis:
            base = self._initial[api] if clear else self._faults[api].settings
            try:
                updated[api] = FaultSettings.model_validate({**base.model_dump(), **fields})
            except ValidationError as exc:
                where, message = first_error(exc)
                raise FaultError(f"faults: {where}: {message}") from None
        for api, settings in updated.items():
            self._faults[api] = ApiFaults(api, settings, now_ns)
        return self.settings()

    def reset(self, now_ns: int) -> None:
        self._faults = {api: ApiFaults(api, self._initial[api], now_ns) for api in API_NAMES}


# The command line's option for each start-up fault (``hookstack partner``, ``python -m stack.partner``).
STARTUP_OPTIONS = {
    "latency_ms": "--latency-ms",
    "error_rate": "--error-rate",
    "rate_limit_per_s": "--rate-limit",
    "burst": "--burst",
    "seed": "--seed",
}


def startup_faults(
    *,
    latency_ms: int = 0,
    error_rate: float = 0.0,
    rate_limit_per_s: float | None = None,
    burst: int = 1,
    seed: int = 0,
) -> dict[ApiName, FaultSettings]:
    """The faults every API starts with (and goes back to on reset), from the command line's
    options: latency, error rate and seed for every API, the rate limit for the trickle API.
    Raises :class:`FaultError` naming the option for a value out of range."""
    common: dict[str, Any] = {"latency_ms": latency_ms, "error_rate": error_rate, "seed": seed}
    try:
        trickle = FaultSettings.model_validate({**common, "rate_limit_per_s": rate_limit_per_s, "burst": burst})
    except ValidationError as exc:
        where, message = first_error(exc)
        raise FaultError(f"{STARTUP_OPTIONS.get(where, where)}: {message}") from None
    others = FaultSettings.model_validate(common)
    return {api: trickle if api == "trickle" else others for api in API_NAMES}


def first_error(exc: ValidationError) -> tuple[str, str]:
    """Where and what the first validation error is, for a one-line refusal."""
    first = exc.errors()[0]
    return ".".join(str(part) for part in first.get("loc", ())) or "body", first.get("msg", "invalid value")
