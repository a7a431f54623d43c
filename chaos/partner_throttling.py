"""Drill ``partner-throttling``: the CDC trickle's partner answers 429 and 503 for a while.

Known items are inserted into the stage's source table; while the partner throttles hard (a low
rate limit) and fails a share of what it lets through (503), the trickle is fired run after run
(as its schedules fire it); then the faults are cleared and the queue drains. Checked from the
partner's own records:

- nothing lost: every inserted item was accepted, and nothing is left on the queue or its DLQ;
- per-group order kept: each group's accepted items are in the order they were written;
- the partner's limit never exceeded: in no 1 s window more were accepted than its limit then
  (burst + rate) allowed;
- the fault had an effect: the partner answered 429 and 503 during the fault.

The broken variant (``delete-first``) runs a trickle that deletes each message before the
partner has answered — the bug the drill must catch: every refused item is then lost, and the
drill FAILS on "nothing lost".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.cdc.trickle import RunReport, Trickle
from stack.partner.client import PartnerClient
from stack.partner.records import most_in_any_window

DRILL_NAME = "partner-throttling"
BROKEN_VARIANTS = ("delete-first",)
FAULT_RATE_PER_S = 2.0
FAULT_ERROR_RATE = 0.3
RUN_LIMIT = 200  # trickle runs at most, per phase


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


@dataclass
class DrillOutcome:
    variant: str
    inserted: int
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)


class DeleteFirstTrickle(Trickle):
    """The sabotage: the message is deleted as soon as it is received, before the partner answers."""

    def _send(self, message: Mapping[str, Any], key: str, report: RunReport) -> bool:
        self._delete(message, report)
        return super()._send(message, key, report)


def check_delivery(
    partner: PartnerClient, inserted: list[tuple[str, str, int]], left_on_queues: int
) -> list[CheckResult]:
    """The drill's checks over the partner's records: ``inserted`` is (item id, group, write index)."""
    records = partner.trickle()
    accepted = [(r.group, json.loads(r.body)) for r in records.accepted]
    wanted = {item_id for item_id, _, _ in inserted}
    got = [item["id"] for _, item in accepted]
    missing = wanted - set(got)
    checks = [
        CheckResult(
            "nothing lost",
            not missing and left_on_queues == 0,
            f"{len(missing)} of {len(wanted)} never accepted; {left_on_queues} left on the queue and DLQ",
        )
    ]
    disorder = [
        group
        for group, group_records in records.by_group().items()
        if [json.loads(r.body)["n"] for r in group_records] != sorted(json.loads(r.body)["n"] for r in group_records)
    ]
    checks.append(CheckResult("per-group order", not disorder, f"groups out of order: {disorder[:5]}"))
    # Per limit in force: a changed limit starts a fresh (full) bucket at the partner.
    by_limit: dict[tuple[float, int], list[Any]] = {}
    for record in records.accepted:
        if record.rate_limit_per_s is not None:
            by_limit.setdefault((record.rate_limit_per_s, record.burst), []).append(record)
    over = [limit for limit, rs in by_limit.items() if most_in_any_window(rs, 1.0) > limit[1] + limit[0]]
    peak = most_in_any_window(records.accepted, 1.0)
    checks.append(CheckResult("partner limit kept", not over, f"most in any 1 s: {peak}"))
    checks.append(
        CheckResult(
            "fault had an effect",
            records.rate_limited > 0 and records.failed > 0,
            f"{records.rate_limited} answered 429, {records.failed} answered 503",
        )
    )
    return checks


def run_partner_throttling(
    partner: PartnerClient,
    insert: Callable[[], list[tuple[str, str, int]]],
    fire: Callable[[], RunReport | Mapping[str, Any]],
    left_on_queues: Callable[[], int],
    *,
    variant: str = "real",
    fault_s: float = 20.0,
    drain_s: float = 180.0,
) -> DrillOutcome:
    """The drill over callables the caller wires to a stage: ``insert`` writes the items,
    ``fire`` runs the trickle once (the deployed one, or the broken one), ``left_on_queues``
    counts what is left on the CDC queue and its DLQ."""
    partner.reset()
    partner.set_faults("trickle", rate_limit_per_s=FAULT_RATE_PER_S, burst=1, error_rate=FAULT_ERROR_RATE)
    inserted = insert()
    outcome = DrillOutcome(variant, len(inserted))
    ends = time.monotonic() + fault_s
    for _ in range(RUN_LIMIT):
        if time.monotonic() >= ends:
            break
        fire()
    partner.clear_faults("trickle")
    ends = time.monotonic() + drain_s
    for _ in range(RUN_LIMIT):
        if time.monotonic() >= ends or (len(partner.trickle().accepted) >= len(inserted) and not left_on_queues()):
            break
        report = fire()
        delivered = report.delivered if isinstance(report, RunReport) else report.get("delivered", 0)
        if not delivered:
            time.sleep(1.0)  # nothing to send yet (the capture is behind, or a Retry-After runs)
    outcome.checks = check_delivery(partner, inserted, left_on_queues())
    return outcome
