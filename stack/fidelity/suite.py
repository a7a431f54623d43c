"""Run the behaviours against one target, each bounded, all within a time budget."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from stack.errors import HookstackError
from stack.fidelity import api_limits, authorizer, event_source_mapping, lambda_errors, sqs_fifo
from stack.fidelity.behaviour import AREAS, Behaviour, Differs, NotSupportedHere, Outcome, Verdict
from stack.fidelity.probe import Probe

ALL_BEHAVIOURS: tuple[Behaviour, ...] = (
    *sqs_fifo.BEHAVIOURS,
    *event_source_mapping.BEHAVIOURS,
    *authorizer.BEHAVIOURS,
    *api_limits.BEHAVIOURS,
    *lambda_errors.BEHAVIOURS,
)
# The whole suite on the embedded target takes well under this; past it, the rest is skipped
# (reported as such) so `hookstack fidelity` always ends.
DEFAULT_BUDGET_S = 100.0


@dataclass(frozen=True)
class AreaScore:
    area: str
    holds: int
    checked: int  # behaviours that gave a verdict (holds or differs)
    total: int


@dataclass(frozen=True)
class SuiteReport:
    target: str
    outcomes: tuple[Outcome, ...]
    left_behind: tuple[str, ...] = ()  # what the suite's shared resources left on the target

    def scores(self) -> list[AreaScore]:
        scores = []
        for area in AREAS:
            mine = [o for o in self.outcomes if o.behaviour.area == area]
            if mine:
                holds = sum(o.verdict is Verdict.HOLDS for o in mine)
                checked = sum(o.verdict in (Verdict.HOLDS, Verdict.DIFFERS) for o in mine)
                scores.append(AreaScore(area, holds, checked, len(mine)))
        return scores

    def outcome(self, behaviour_id: str) -> Outcome:
        return next(o for o in self.outcomes if o.behaviour.id == behaviour_id)


def behaviours_in(areas: Iterable[str] | None) -> list[Behaviour]:
    wanted = set(areas) if areas else set(AREAS)
    return [b for b in ALL_BEHAVIOURS if b.area in wanted]


def run_one(behaviour: Behaviour, probe: Probe) -> Outcome:
    started = time.monotonic()
    try:
        behaviour.check(probe)
        verdict, how = Verdict.HOLDS, ""
    except Differs as exc:
        verdict, how = Verdict.DIFFERS, str(exc)
    except NotSupportedHere as exc:
        verdict, how = Verdict.SKIPPED, str(exc)
    except (ClientError, BotoCoreError, OSError) as exc:
        verdict, how = Verdict.ERROR, f"{type(exc).__name__}: {exc}"
    except HookstackError as exc:  # the fidelity stack could not be deployed or served
        verdict, how = Verdict.ERROR, str(exc)
    finally:
        left = probe.clean_up()
    if left:
        how = (how + "; " if how else "") + f"could not delete {', '.join(left)}"
    return Outcome(behaviour, verdict, how, time.monotonic() - started)


def run_suite(
    probe: Probe,
    behaviours: Sequence[Behaviour],
    budget_s: float = DEFAULT_BUDGET_S,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> SuiteReport:
    """Run each behaviour in turn; once ``budget_s`` is spent the rest are reported skipped."""
    deadline = time.monotonic() + budget_s
    outcomes = []
    try:
        for behaviour in behaviours:
            if time.monotonic() >= deadline:
                outcome = Outcome(
                    behaviour, Verdict.SKIPPED, f"not run: the suite's {budget_s:g} s budget was spent", 0.0
                )
            else:
                outcome = run_one(behaviour, probe)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    finally:
        left = probe.close()  # the fidelity stack, when a check deployed it
    return SuiteReport(probe.target, tuple(outcomes), tuple(left))
