"""The ``cdc-trickle`` run's figures, from the partner simulator's own records against what the
sources wrote. Pure: records, writes and times in, figures out.

A record is this run's when its body (the inserted item, as the trickle sends it) has an ``id``
with the run's prefix. Per inserted item:

- delivered: a record answered 2xx; its first one counts. ``lag`` = that record's
  ``received_at`` (the partner's clock, epoch ms) − the item's ``inserted_at_ms`` (the source's,
  at the write's start; both clocks are this machine's).
- duplicates: 2xx records of an item beyond its first (the trickle re-sends after a lost delete:
  the partner's Idempotency-Key makes them harmless, but they are counted).
- undelivered: inserted (acknowledged by DynamoDB) and never answered 2xx.
- order: each customer's first deliveries, in the partner's order of acceptance, must follow the
  items' ``n``; ``order_violations`` counts those behind a later-written one.
- leaked: this run's records that are not an insert's image (``state`` other than ``new``, or no
  ``inserted_at_ms``): an update or a delete the capture should have skipped.

The outgoing rate is over every record the partner accepted during the run (its limit is on all
of them): the most in any 1 s window, against ``burst + rate`` of each limit in force.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loadtests.model.cdc_traffic import (
    INSERTED_AT_ATTRIBUTE,
    POSITION_ATTRIBUTE,
    STATE_ATTRIBUTE,
    STATE_NEW,
    STATE_UPDATED,
    RunWrites,
)
from loadtests.report import latency
from stack.partner.records import TrickleRecord, TrickleRecords, most_in_any_window, out_of_order
from stack.percentiles import percentiles

LAG_PERCENTILES = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p999": 99.9, "max": 100}
MAX_LISTED = 25
LAG_BASIS = "partner received_at (2xx) − the item's inserted_at_ms (the write's start), epoch ms"


@dataclass(frozen=True)
class PartnerMark:
    """The partner's trickle records before the run: what came earlier is not this run's."""

    last_seq: int
    rate_limited: int
    failed: int
    rate_limit_per_s: float | None
    burst: int

    @classmethod
    def of(cls, records: TrickleRecords, rate_limit_per_s: float | None, burst: int) -> PartnerMark:
        last = max((record.seq for record in records.accepted), default=0)
        return cls(last, records.rate_limited, records.failed, rate_limit_per_s, burst)

    @property
    def allowed_in_1s(self) -> float | None:
        return None if self.rate_limit_per_s is None else self.burst + self.rate_limit_per_s


def _body(record: TrickleRecord) -> dict[str, Any]:
    try:
        value = json.loads(record.body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _delivered(record: TrickleRecord) -> bool:
    return 200 <= record.status < 300


@dataclass(frozen=True)
class Delivery:
    item_id: str
    group: str
    position: float
    inserted_at_ms: float
    received_at_ms: float

    @property
    def lag_ms(self) -> float:
        return self.received_at_ms - self.inserted_at_ms


@dataclass
class CdcTally:
    """This run's records sorted out (see the module's docstring)."""

    during: list[TrickleRecord]  # every record the partner accepted during the run
    first: dict[str, Delivery]  # item id → its first 2xx delivery, in acceptance order
    duplicates: int
    leaked_updates: int
    leaked_other: int
    groups_behind: dict[str, int]


def tally(records: TrickleRecords, mark: PartnerMark, run_prefix: str) -> CdcTally:
    during = [record for record in records.accepted if record.seq > mark.last_seq]
    first: dict[str, Delivery] = {}
    duplicates = leaked_updates = leaked_other = 0
    by_group: dict[str, list[TrickleRecord]] = {}
    for record in during:
        body = _body(record)
        item_id = body.get("id")
        if not isinstance(item_id, str) or not item_id.startswith(run_prefix):
            continue
        if body.get(STATE_ATTRIBUTE) != STATE_NEW or INSERTED_AT_ATTRIBUTE not in body:
            if body.get(STATE_ATTRIBUTE) == STATE_UPDATED:
                leaked_updates += 1
            else:
                leaked_other += 1
            continue
        if not _delivered(record):
            continue
        if item_id in first:
            duplicates += 1
            continue
        first[item_id] = Delivery(
            item_id,
            record.group,
            float(body.get(POSITION_ATTRIBUTE, 0)),
            float(body[INSERTED_AT_ATTRIBUTE]),
            float(record.received_at),
        )
        by_group.setdefault(record.group, []).append(record)
    behind = out_of_order(by_group, lambda record: float(_body(record).get(POSITION_ATTRIBUTE, 0)))
    return CdcTally(during, first, duplicates, leaked_updates, leaked_other, behind)


def _limits_exceeded(records: Iterable[TrickleRecord]) -> tuple[list[str], dict[str, int]]:
    """Per limit in force (a changed limit starts a fresh bucket): the most accepted in any 1 s."""
    by_limit: dict[tuple[float, int], list[TrickleRecord]] = {}
    for record in records:
        if record.rate_limit_per_s is not None:
            by_limit.setdefault((record.rate_limit_per_s, record.burst), []).append(record)
    most = {f"{rate:g}/s burst {burst}": most_in_any_window(rs, 1.0) for (rate, burst), rs in by_limit.items()}
    over = [
        f"{rate:g}/s burst {burst}"
        for (rate, burst), rs in by_limit.items()
        if most_in_any_window(rs, 1.0) > burst + rate
    ]
    return over, most


def figures(
    records: TrickleRecords,
    mark: PartnerMark,
    writes: RunWrites,
    *,
    run_prefix: str,
    load_end_epoch: float,
    complete: bool,
) -> dict[str, Any]:
    """The summary's cdc keys: the gate-able figures at the top level, the rest under ``cdc``.
    ``complete``: the run waited for the drain (False when interrupted: undelivered is then what
    had not arrived yet)."""
    counted = tally(records, mark, run_prefix)
    delivered = {item_id: d for item_id, d in counted.first.items() if item_id in writes.inserted}
    undelivered = sorted(writes.inserted - set(delivered))
    lags = [d.lag_ms for d in delivered.values()]
    lag = percentiles(lags, LAG_PERCENTILES, digits=1)
    received = sorted(d.received_at_ms for d in delivered.values())
    span_s = (received[-1] - received[0]) / 1000 if len(received) > 1 else 0.0
    drain_s = None
    if complete and not undelivered and received:
        drain_s = round(max(0.0, received[-1] / 1000 - load_end_epoch), 3)
    over, most_by_limit = _limits_exceeded(counted.during)
    answered_429 = max(0, records.rate_limited - mark.rate_limited)
    answered_5xx = max(0, records.failed - mark.failed)
    most = most_in_any_window(counted.during, 1.0)
    return {
        **{f"lag_{name}_ms": value for name, value in lag.items()},
        "undelivered": len(undelivered),
        "order_violations": sum(counted.groups_behind.values()),
        "duplicates": counted.duplicates,
        "leaked": counted.leaked_updates + counted.leaked_other,
        "answered_429": answered_429,
        "answered_5xx": answered_5xx,
        "most_in_1s": most,
        "delivered_per_s": round(len(received) / span_s, 3) if span_s > 0 else None,
        "trickle_drain_s": drain_s,
        "cdc": {
            "inserted": len(writes.inserted),
            "updated": len(writes.updated),
            "deleted": len(writes.deleted),
            "delivered": len(delivered),
            "undelivered_ids": undelivered[:MAX_LISTED],
            # At the partner, never acknowledged to the source (a write that timed out, yet applied).
            "delivered_unacknowledged": len(set(counted.first) - writes.inserted),
            "groups_out_of_order": sorted(counted.groups_behind)[:MAX_LISTED],
            "leaked_updates": counted.leaked_updates,
            "leaked_other": counted.leaked_other,
            "partner_records_during_run": len(counted.during),
            "partner_records_dropped": records.dropped,
            "partner_limit": {
                "rate_per_s": mark.rate_limit_per_s,
                "burst": mark.burst,
                "allowed_in_1s": mark.allowed_in_1s,
            },
            "most_in_1s_by_limit": most_by_limit,
            "limits_exceeded": over,
            "lag_basis": LAG_BASIS,
            "complete": complete,
        },
    }


def series(
    records: TrickleRecords, mark: PartnerMark, run_prefix: str, origin_epoch: float
) -> dict[str, list[list[float]]]:
    """Plot data, seconds from the load's start: deliveries per second at the partner (this run's
    first 2xx, and every request it accepted), and the lag per second of insert (p50, max)."""
    counted = tally(records, mark, run_prefix)
    accepted: dict[int, int] = {}
    for record in counted.during:
        second = int(record.received_at / 1000 - origin_epoch)
        accepted[second] = accepted.get(second, 0) + 1
    delivered: dict[int, int] = {}
    lag_by_second: dict[int, list[float]] = {}
    for d in counted.first.values():
        second = int(d.received_at_ms / 1000 - origin_epoch)
        delivered[second] = delivered.get(second, 0) + 1
        lag_by_second.setdefault(int(d.inserted_at_ms / 1000 - origin_epoch), []).append(d.lag_ms)
    lag_rows = []
    for second in sorted(lag_by_second):
        picked = percentiles(lag_by_second[second], {"p50": 50, "max": 100}, digits=1)
        lag_rows.append([second + 0.5, picked["p50"] or 0.0, picked["max"] or 0.0])
    histogram = latency.new_histogram()
    for d in counted.first.values():
        latency.record(histogram, max(0.0, d.lag_ms) / 1000)
    return {
        "cdc_accepted": _per_second(accepted),
        "cdc_delivered": _per_second(delivered),
        "cdc_lag": lag_rows,
        "cdc_lag_bins": latency.log_bins(histogram) if counted.first else [],
    }


def _per_second(counts: Mapping[int, int]) -> list[list[float]]:
    """Every second from the first to the last, empty ones as 0 (a line must drop to zero)."""
    if not counts:
        return []
    return [[second + 0.5, counts.get(second, 0)] for second in range(min(counts), max(counts) + 1)]
