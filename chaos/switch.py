"""The fault switch: writes, reads and removes the fault configuration parameter of a stage.

The handlers read the same parameter (``handlers.faults``) with a short cache, so a switch takes
effect within ``FAULTS_CACHE_SECONDS`` on every target without a redeploy. The configuration is
validated with the handlers' own model before it is written: a drill cannot write something the
handlers would reject as malformed.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
from collections.abc import Iterable
from typing import Any

from handlers.faults import NO_FAULTS, Fault, FaultConfig
from stack.errors import HookstackError

# A fault nobody turns off is gone after this long at most (a game day can ask for more).
DEFAULT_FAULT_TTL_SECONDS = 15 * 60
MAX_FAULT_TTL_SECONDS = 12 * 3600


def operator() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"[:200]
    except Exception:  # noqa: BLE001 - who switched a fault is a label: never worth failing the switch for
        return "unknown"


def expiry(ttl_seconds: float, now: float | None = None) -> int:
    if not 0 < ttl_seconds <= MAX_FAULT_TTL_SECONDS:
        raise HookstackError(f"a fault lasts between 1 s and {MAX_FAULT_TTL_SECONDS} s, not {ttl_seconds:g} s")
    return int((now if now is not None else time.time()) + ttl_seconds) + 1


class FaultSwitch:
    """One stage's fault parameter, through an SSM client."""

    def __init__(self, ssm: Any, parameter: str):
        self._ssm = ssm
        self.parameter = parameter

    def read(self) -> FaultConfig:
        """The stored configuration (expired faults included); none stored → no faults."""
        try:
            raw = self._ssm.get_parameter(Name=self.parameter)["Parameter"]["Value"]
        except self._ssm.exceptions.ParameterNotFound:
            return NO_FAULTS
        try:
            return FaultConfig.model_validate_json(raw)
        except ValueError as error:
            raise HookstackError(
                f"{self.parameter} holds a malformed fault configuration (the handlers "
                f"ignore it): {str(error).splitlines()[0]}; `hookstack chaos off` removes it"
            ) from None

    def active(self, now: float | None = None) -> tuple[Fault, ...]:
        return self.read().active(now if now is not None else time.time())

    def write(self, faults: Iterable[Fault], *, applied_log_until: int = 0) -> FaultConfig:
        config = FaultConfig(
            faults=tuple(faults),
            applied_log_until=applied_log_until,
            updated_at=int(time.time()),
            updated_by=operator(),
        )
        value = config.model_dump_json(exclude_defaults=False)
        if len(value.encode()) > 4096:  # SSM standard tier
            raise HookstackError(
                f"fault configuration is {len(value.encode())} bytes; SSM standard parameters hold 4096"
            )
        self._ssm.put_parameter(
            Name=self.parameter,
            Value=value,
            Type="String",
            Overwrite=True,
            Description="hookstack chaos faults (read by the handlers at run time)",
        )
        return config

    def add(self, fault: Fault) -> FaultConfig:
        """Add (or replace, same id) one fault, keeping the others that have not expired."""
        current = self.read()
        now = time.time()
        kept = [f for f in current.active(now) if f.id != fault.id]
        return self.write(
            [*kept, fault], applied_log_until=current.applied_log_until if current.applied_log_on(now) else 0
        )

    def off(self) -> int:
        """Remove every fault (the whole parameter). Returns how many were active."""
        try:
            active = len(self.active())
        except HookstackError:
            active = 0  # malformed: nothing was active for the handlers either
        try:
            self._ssm.delete_parameter(Name=self.parameter)
        except self._ssm.exceptions.ParameterNotFound:
            pass
        return active

    def describe(self) -> dict[str, Any]:
        config = self.read()
        now = time.time()
        return {
            "parameter": self.parameter,
            "active": [json.loads(f.model_dump_json(exclude_defaults=True)) for f in config.active(now)],
            "expired": [f.id for f in config.faults if not f.is_active(now)],
            "applied_log_until": config.applied_log_until or None,
            "updated_at": config.updated_at,
            "updated_by": config.updated_by,
        }
