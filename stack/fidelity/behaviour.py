"""One AWS behaviour the suite checks on a target, and the verdict of one check."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stack.fidelity.probe import Probe

# The areas a behaviour (or a divergence) bears on; `hookstack fidelity --area` takes one of these.
AREAS = ("sqs-fifo", "event-source-mapping", "authorizer", "api-limits", "lambda-errors")


class Differs(Exception):
    """Raised by a check: the target does not do what AWS does. The message says how."""


class NotSupportedHere(Exception):
    """Raised by a check that cannot run on this target (the message says why)."""


class Verdict(enum.StrEnum):
    HOLDS = "holds"
    DIFFERS = "differs"
    ERROR = "error"  # the check itself failed (the target misbehaved in a way it does not test)
    SKIPPED = "skipped"  # not supported on this target, or the suite's time budget ran out


@dataclass(frozen=True)
class Behaviour:
    """``check`` raises ``Differs`` when the target does not behave as ``statement`` says."""

    id: str
    area: str
    statement: str  # what AWS does, in one line
    source: str  # the AWS-validated test and/or AWS documentation it comes from
    check: Callable[[Probe], None]

    def __post_init__(self) -> None:
        if self.area not in AREAS:
            raise ValueError(f"behaviour {self.id}: unknown area {self.area!r}")


@dataclass(frozen=True)
class Outcome:
    behaviour: Behaviour
    verdict: Verdict
    how: str  # why it differs, errored or was skipped; empty when it holds
    seconds: float

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.behaviour.id,
            "area": self.behaviour.area,
            "verdict": self.verdict.value,
            "how": self.how,
            "statement": self.behaviour.statement,
            "source": self.behaviour.source,
            "seconds": round(self.seconds, 3),
        }
