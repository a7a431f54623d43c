"""Is the stage quiet before a load? A backlog left by an earlier run (its messages are still
being worked off) or an active chaos fault would be measured as if it were the scenario's.

Reads the stage's queues (``stack.ops.top``: every queue output) and its fault parameter; warns,
or (``--wait-for-quiet``) waits, bounded, until the queues are empty and no fault is active.
Dead-letter queues are reported but not waited for: nothing works them off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handlers.faults import FaultConfig
from stack.config import load_config
from stack.ops.top import QueueDepth, read_depths, stage_queues

POLL_S = 2.0


@dataclass(frozen=True)
class StageState:
    queues: list[QueueDepth]
    active_faults: list[str]  # fault ids
    fault_error: str | None = None

    @property
    def backlog(self) -> dict[str, int]:
        """Messages per working queue (not the DLQs) that the stage has yet to work off."""
        return {
            depth.label: total
            for depth in self.queues
            if not depth.label.endswith("Dlq")
            and (total := (depth.visible or 0) + (depth.in_flight or 0) + (depth.delayed or 0))
        }

    @property
    def quiet(self) -> bool:
        return not self.backlog and not self.active_faults

    def warnings(self) -> list[str]:
        lines = []
        if self.backlog:
            queued = ", ".join(f"{label} {count}" for label, count in self.backlog.items())
            lines.append(f"the stage has a backlog before the load ({queued} messages): the run measures it too")
        if self.active_faults:
            lines.append(
                f"chaos fault(s) active on the stage: {', '.join(self.active_faults)} "
                "(`hookstack chaos off` removes them): the run measures them too"
            )
        if self.fault_error:
            lines.append(f"the stage's chaos faults could not be read: {self.fault_error}")
        return lines


def _active_faults(ssm: Any, parameter: str, now: float) -> tuple[list[str], str | None]:
    try:
        raw = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return [], None
    except Exception as exc:  # noqa: BLE001 - boto3 raises many types; a warning, never a failed run
        return [], f"{type(exc).__name__}: {exc}"
    try:
        config = FaultConfig.model_validate_json(raw)
    except ValueError:
        return [], f"{parameter} holds a malformed fault configuration"
    return [fault.id for fault in config.active(now)], None


def read_stage_state(outputs: Any, *, now: Callable[[], float] = time.time) -> StageState:
    faults, error = _active_faults(
        outputs.client("ssm"), load_config(stage=outputs.stage).faults_parameter, now()
    )  # fmt: skip
    return StageState(read_depths(outputs.client("sqs"), stage_queues(outputs.resources)), faults, error)


def wait_for_quiet(
    read: Callable[[], StageState],
    *,
    timeout_s: float,
    on_poll: Callable[[StageState], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> StageState:
    """Read until the stage is quiet or ``timeout_s`` passes; the last state read."""
    deadline = clock() + timeout_s
    while True:
        state = read()
        if on_poll is not None:
            on_poll(state)
        if state.quiet or clock() >= deadline:
            return state
        sleep(min(POLL_S, max(0.0, deadline - clock())))
