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

``run_partner_throttling`` is the drill over callables; ``run_partner_throttling_drill`` wires
them to a stage with the cdc pattern (its source table, the deployed trickle fired through its
schedule, or the broken one run here) and returns the drill's ``DrillResult``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets as secrets_module
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.context import Check, DrillSettings
from chaos.runner import DrillResult
from handlers.cdc import trickle as trickle_module
from handlers.cdc.contract import ITEM_ID_ATTRIBUTE, ORDERING_KEY_ATTRIBUTE
from handlers.cdc.trickle import TRANSIENT_BACKOFF_SECONDS, RunReport, Trickle
from handlers.contract.settings import CdcTrickleSettings
from stack.config import HookstackConfig
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError
from stack.ops.cdc_stage import CdcStage
from stack.partner.client import PartnerClient
from stack.partner.records import TrickleRecords, most_in_any_window, out_of_order

NAME = "partner-throttling"
SUMMARY = (
    "the CDC trickle's partner answers 429 and 503 for a while; after it recovers every inserted "
    "item reached it, in each group's write order, never faster than its limit"
)
PATTERN = "cdc"
SABOTAGE = "delete-first"
BROKEN_VARIANTS = (SABOTAGE,)
FAULT_RATE_PER_S = 2.0
FAULT_BURST = 1
FAULT_ERROR_RATE = 0.3
FAULT_S = 20.0  # the fault window
DRAIN_S = 180.0  # at most, after the fault, for the queue to drain
RUN_LIMIT = 200  # trickle runs at most, per phase
# The queues empty this long while items are missing: they are lost, not on their way (the capture
# is seconds behind a write, and a refused item stays on the queue, hidden, until it is sent).
QUIET_S = 10.0
FAULT_MARK = "partner 429/503"
MAX_LISTED = 25


class PartnerThrottlingError(HookstackError):
    """The drill cannot run on this stage, or the trickle it fires failed."""


@dataclass(frozen=True)
class DeliveryTally:
    """What the partner's records say of the inserted items."""

    inserted: int
    delivered: int  # distinct inserted items the partner accepted
    missing_ids: list[str]
    left_on_queues: int
    order_violations: int  # accepted records behind a later-written one of their group
    groups_out_of_order: list[str]
    rate_limited: int  # answered 429
    failed: int  # answered 503 (the injected error)
    most_in_1s: int  # over every accepted record
    limit_in_1s: int | None  # burst + rate of the partner's limit outside the fault (None: no limit)
    most_in_1s_fault: int  # over the records accepted under the fault's limit
    limit_in_1s_fault: int
    over_limit: list[str]  # limits in force that some 1 s window exceeded

    @property
    def lost(self) -> int:
        return len(self.missing_ids)

    def problems(self) -> list[str]:
        found = [f"{item_id}: never accepted by the partner" for item_id in self.missing_ids]
        found += [f"group {group}: accepted out of write order" for group in self.groups_out_of_order]
        if self.left_on_queues:
            found.append(f"{self.left_on_queues} message(s) left on the CDC queue and its DLQ")
        found += [f"{limit}: exceeded in some 1 s window" for limit in self.over_limit]
        return found

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["missing_ids"] = self.missing_ids[:MAX_LISTED]
        document["problems"] = self.problems()[:MAX_LISTED]
        return document


@dataclass
class DrillOutcome:
    variant: str
    inserted: int
    checks: list[Check] = field(default_factory=list)
    tally: DeliveryTally | None = None

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


class DeleteFirstTrickle(Trickle):
    """The sabotage: the message is deleted as soon as it is received, before the partner answers."""

    def _send(self, message: Mapping[str, Any], key: str, report: RunReport) -> bool:
        self._delete(message, report)
        return super()._send(message, key, report)


def _limit_label(rate_per_s: float, burst: int) -> str:
    return f"{rate_per_s:g}/s burst {burst}"


def tally_delivery(records: TrickleRecords, inserted: list[tuple[str, str, int]], left_on_queues: int) -> DeliveryTally:
    """The partner's records against ``inserted`` ((item id, group, write index)); pure."""
    accepted_ids = {json.loads(record.body)["id"] for record in records.accepted}
    missing = [item_id for item_id, _, _ in inserted if item_id not in accepted_ids]
    behind = out_of_order(records.by_group(), lambda record: json.loads(record.body)["n"])
    violations, disordered = sum(behind.values()), list(behind)
    # Per limit in force: a changed limit starts a fresh (full) bucket at the partner.
    by_limit: dict[tuple[float, int], list[Any]] = {}
    for record in records.accepted:
        if record.rate_limit_per_s is not None:
            by_limit.setdefault((record.rate_limit_per_s, record.burst), []).append(record)
    over = [
        _limit_label(rate, burst)
        for (rate, burst), rs in by_limit.items()
        if most_in_any_window(rs, 1.0) > burst + rate
    ]
    outside = [limit for limit in by_limit if limit != (FAULT_RATE_PER_S, FAULT_BURST)]
    fault_records = by_limit.get((FAULT_RATE_PER_S, FAULT_BURST), [])
    return DeliveryTally(
        inserted=len(inserted),
        delivered=len(inserted) - len(missing),
        missing_ids=missing,
        left_on_queues=left_on_queues,
        order_violations=violations,
        groups_out_of_order=disordered,
        rate_limited=records.rate_limited,
        failed=records.failed,
        most_in_1s=most_in_any_window(records.accepted, 1.0),
        limit_in_1s=max((int(burst + rate) for rate, burst in outside), default=None),
        most_in_1s_fault=most_in_any_window(fault_records, 1.0),
        limit_in_1s_fault=int(FAULT_BURST + FAULT_RATE_PER_S),
        over_limit=over,
    )


def delivery_checks(tally: DeliveryTally) -> list[Check]:
    exceeded = f"; exceeded: {', '.join(tally.over_limit)}" if tally.over_limit else ""
    disordered = tally.groups_out_of_order[:5]
    return [
        Check(
            "nothing lost",
            not tally.missing_ids and tally.left_on_queues == 0,
            f"{tally.lost} of {tally.inserted} never accepted; {tally.left_on_queues} left on the queue and DLQ",
        ),
        Check("per-group order", not tally.groups_out_of_order, f"groups out of order: {disordered}"),
        Check(
            "partner limit kept",
            not tally.over_limit,
            f"most in any 1 s: {tally.most_in_1s}; under the fault's limit {tally.most_in_1s_fault} "
            f"(allowed {tally.limit_in_1s_fault}){exceeded}",
        ),
        Check(
            "fault had an effect",
            tally.rate_limited > 0 and tally.failed > 0,
            f"{tally.rate_limited} answered 429, {tally.failed} answered 503",
        ),
    ]


def check_delivery(
    partner: PartnerClient, inserted: list[tuple[str, str, int]], left_on_queues: int
) -> tuple[DeliveryTally, list[Check]]:
    """The drill's tally and checks over the partner's records."""
    tally = tally_delivery(partner.trickle(), inserted, left_on_queues)
    return tally, delivery_checks(tally)


def _fire_paced(fire: Callable[[], RunReport | Mapping[str, Any]]) -> None:
    """One trickle run; a run that delivered nothing is followed by a pause, as a schedule's next
    tick would be (the capture is behind, or a Retry-After runs): an empty run returns at once."""
    report = fire()
    delivered = report.delivered if isinstance(report, RunReport) else report.get("delivered", 0)
    if not delivered:
        time.sleep(1.0)


def run_partner_throttling(
    partner: PartnerClient,
    insert: Callable[[], list[tuple[str, str, int]]],
    fire: Callable[[], RunReport | Mapping[str, Any]],
    left_on_queues: Callable[[], int],
    *,
    variant: str = "real",
    fault_s: float = FAULT_S,
    drain_s: float = DRAIN_S,
    mark: Callable[[str, str], None] = lambda kind, detail: None,
    progress: Callable[[str], None] = lambda message: None,
) -> DrillOutcome:
    """The drill over callables the caller wires to a stage: ``insert`` writes the items,
    ``fire`` runs the trickle once (the deployed one, or the broken one), ``left_on_queues``
    counts what is left on the CDC queue and its DLQ. The partner's faults are cleared whatever
    happens."""
    partner.reset()
    try:
        partner.set_faults("trickle", rate_limit_per_s=FAULT_RATE_PER_S, burst=FAULT_BURST, error_rate=FAULT_ERROR_RATE)
        mark("fault_on", FAULT_MARK)
        inserted = insert()
        mark("send", f"{len(inserted)} items inserted")
        progress(
            f"{len(inserted)} items inserted; partner at {_limit_label(FAULT_RATE_PER_S, FAULT_BURST)}, "
            f"{FAULT_ERROR_RATE:.0%} 503, for {fault_s:g} s"
        )
        outcome = DrillOutcome(variant, len(inserted))
        ends = time.monotonic() + fault_s
        for _ in range(RUN_LIMIT):
            if time.monotonic() >= ends:
                break
            _fire_paced(fire)
    finally:
        partner.clear_faults("trickle")
        mark("fault_off", FAULT_MARK)
    progress("partner recovered; draining")
    ends = time.monotonic() + drain_s
    empty_since: float | None = None
    for _ in range(RUN_LIMIT):
        left, now = left_on_queues(), time.monotonic()
        if now >= ends or (not left and len(partner.trickle().accepted) >= len(inserted)):
            break
        empty_since = None if left else (empty_since if empty_since is not None else now)
        if empty_since is not None and now - empty_since >= QUIET_S:
            break  # nothing left to send: what the partner has not got by now is lost
        _fire_paced(fire)
    mark("drained", "")
    outcome.tally, outcome.checks = check_delivery(partner, inserted, left_on_queues())
    return outcome


def estimate_s(items: int, trickle_rate_per_s: float) -> float:
    """The drill's length on a stage that is up: the fault window, the items at the trickle's
    rate, and one backoff of an item refused without a Retry-After."""
    return FAULT_S + items / trickle_rate_per_s + TRANSIENT_BACKOFF_SECONDS


# --- on a stage ---------------------------------------------------------------------------------


class CdcDrillStage(CdcStage):
    """The drill's view of a stage with the cdc pattern (``stack.ops.cdc_stage``): its source
    table, its queues, its deployed trickle and the partner that trickle calls; plus the drill's
    inserts and the broken trickle."""

    def __init__(self, outputs: StackOutputs, config: HookstackConfig | None = None) -> None:
        super().__init__(outputs, config, error=PartnerThrottlingError)

    def inserter(self, run_id: str, items: int, groups: int) -> Callable[[], list[tuple[str, str, int]]]:
        """Writes ``items`` items round-robin over ``groups`` ordering keys, each key's in order."""

        def insert() -> list[tuple[str, str, int]]:
            written = []
            for n in range(items):
                item_id, group = f"{run_id}-{n:03d}", f"{run_id}-c{n % groups}"
                self.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        ITEM_ID_ATTRIBUTE: {"S": item_id},
                        ORDERING_KEY_ATTRIBUTE: {"S": group},
                        "n": {"N": str(n)},
                        "state": {"S": "new"},
                    },
                )
                written.append((item_id, group, n))
            return written

        return insert

    def broken_trickle(self) -> Callable[[], RunReport]:
        """One run of the delete-first trickle, here, with the deployed trickle's settings."""
        settings = CdcTrickleSettings.from_env(
            {**self.function_env, "CDC_QUEUE_URL": self.queue_url, "CDC_DLQ_URL": self.dlq_url}
        )
        ssm = self.outputs.client("ssm")

        def api_key() -> str:
            answer = ssm.get_parameter(Name=settings.api_key_parameter, WithDecryption=True)
            return str(answer["Parameter"]["Value"])

        broken = DeleteFirstTrickle(settings, self.sqs, api_key)
        return lambda: broken.run(lambda: 10**9)  # max_messages and the rate bound each run


@contextlib.contextmanager
def _quiet_trickle_log() -> Iterator[None]:
    """The broken trickle runs in this process: its per-message warnings would fill stdout."""
    level = trickle_module.logger.log_level
    trickle_module.logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        trickle_module.logger.setLevel(level)


def counts(outcome: DrillOutcome | None) -> dict[str, Any]:
    """The drill's counts, under the names the other drills use where they mean the same."""
    tally = outcome.tally if outcome else None
    if tally is None:
        return {"inserted": outcome.inserted if outcome else 0, "delivered": 0}
    return {
        "inserted": tally.inserted,
        "delivered": tally.delivered,
        "missing": tally.lost,
        "left_on_queues": tally.left_on_queues,
        "order_violations": tally.order_violations,
        "answered_429": tally.rate_limited,
        "answered_503": tally.failed,
        "most_in_1s_fault": tally.most_in_1s_fault,
        "limit_in_1s_fault": tally.limit_in_1s_fault,
        "most_in_1s": tally.most_in_1s,
        # Only when the partner accepted something under a limit other than the fault's.
        **({"limit_in_1s": tally.limit_in_1s} if tally.limit_in_1s is not None else {}),
    }


def drill_result(
    outcome: DrillOutcome | None,
    *,
    run_id: str,
    target: str,
    stage: str,
    settings: Mapping[str, Any],
    timings: Mapping[str, float],
    started_at: float,
    duration_s: float,
    marks: list[dict[str, Any]],
    error: str | None = None,
    interrupted: bool = False,
) -> DrillResult:
    """The outcome as the drills' result: verdict, counts, checks, the fault window's marks."""
    failures = []
    if error:
        failures.append(f"drill error: {error.splitlines()[0]}")
    if outcome is None or outcome.tally is None:
        failures.append("the drill did not reach the reconciliation")
    else:
        failures.extend(f"check failed: {c.name}: {c.detail}" for c in outcome.checks if not c.ok)
    return DrillResult(
        drill=NAME,
        summary=SUMMARY,
        verdict="FAIL" if failures else "PASS",
        run_id=run_id,
        target=target,
        stage=stage,
        settings=dict(settings),
        timings=dict(timings),
        started_at=started_at,
        duration_s=round(duration_s, 2),
        counts=counts(outcome),
        checks=[asdict(c) for c in outcome.checks] if outcome else [],
        before_fix=None,
        after_replay=None,
        replay_errors=[],
        error=error,
        timeline={"started": started_at, "samples": [], "marks": marks},
        failures=failures,
        jobs=outcome.tally.as_dict() if outcome and outcome.tally else None,
        reconciliation_title="Delivery reconciliation",
        interrupted=interrupted,
    )


def run_partner_throttling_drill(
    outputs: StackOutputs,
    settings: DrillSettings | None = None,
    *,
    config: HookstackConfig | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> DrillResult:
    """The drill end to end on a stage with the cdc pattern (``config``: the one it was deployed
    with, when known); a HookstackError when it cannot start (no cdc pattern, no partner_url, a
    busy queue, the budget), else a PASS/FAIL result. ``settings.events`` items are inserted over
    ``settings.groups`` ordering keys; the ``delete-first`` sabotage runs the broken trickle."""
    settings = settings or DrillSettings()
    if settings.sabotage not in (None, SABOTAGE):
        raise PartnerThrottlingError(f"{NAME} takes the {SABOTAGE} sabotage only, not {settings.sabotage}")
    stage = CdcDrillStage(outputs, config)
    rate = float(stage.function_env.get("TRICKLE_RATE_PER_S") or 1.0)
    estimate = estimate_s(settings.events, rate)
    if estimate > settings.max_seconds:
        raise PartnerThrottlingError(
            f"{NAME} needs about {estimate:.0f}s on stage {outputs.stage} (trickle rate {rate:g}/s) and the "
            f"budget is {settings.max_seconds:g}s: raise --max-seconds or lower --events"
        )
    left = stage.left_on_queues()
    if left:
        raise PartnerThrottlingError(
            f"the CDC queue and DLQ of stage {outputs.stage} hold {left} message(s) from before this drill: "
            "drills need a quiet stage"
        )
    variant = settings.sabotage or "real"
    run_id = secrets_module.token_hex(3)
    drain_s = min(DRAIN_S, settings.max_seconds - FAULT_S)
    started_at, started = time.time(), time.monotonic()
    marks: list[dict[str, Any]] = []

    def mark(kind: str, detail: str) -> None:
        marks.append({"t": round(time.monotonic() - started, 3), "kind": kind, "detail": detail})

    outcome: DrillOutcome | None = None
    error: str | None = None
    interrupted = False
    try:
        fire_once = stage.broken_trickle() if variant == SABOTAGE else stage.deployed_trickle()
        with _quiet_trickle_log():
            outcome = run_partner_throttling(
                stage.partner,
                stage.inserter(run_id, settings.events, settings.groups),
                fire_once,
                stage.left_on_queues,
                variant=variant,
                drain_s=drain_s,
                mark=mark,
                progress=progress,
            )
    except HookstackError as exc:
        error = str(exc)
    except KeyboardInterrupt:  # stopped by hand: the partner's faults are cleared, the report is written
        error, interrupted = "interrupted (Ctrl-C)", True
    except Exception as exc:  # noqa: BLE001 - the drill itself broke: FAIL with the cause, never a silent pass
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
    if outcome is not None and outcome.tally is not None:
        tally = outcome.tally
        progress(f"{tally.delivered} of {tally.inserted} delivered, {tally.lost} lost, {tally.left_on_queues} left")
    return drill_result(
        outcome,
        run_id=run_id,
        target=outputs.target,
        stage=outputs.stage,
        settings={
            **settings.__dict__,
            "variant": variant,
            "fault": f"{_limit_label(FAULT_RATE_PER_S, FAULT_BURST)}, {FAULT_ERROR_RATE:.0%} answered 503",
            "trickle_rate_per_s": rate,
        },
        timings={"fault_s": FAULT_S, "drain_s": drain_s},
        started_at=started_at,
        duration_s=time.monotonic() - started,
        marks=marks,
        error=error,
        interrupted=interrupted,
    )
