"""What a run (or a plan) would meet on AWS: the traffic it offers, as ``stack.ops.forecast`` takes it.

A plan's traffic comes from the load model: the scenario's peak rate (``LoadParams.peak_rate``) and
the ordering keys the simulated providers spread over (each delivery picks one of a provider's
keys at random, so the groups share the rate evenly). A run's traffic comes from the run: its
offered and achieved rates, its ack p99, the worker's measured duration per batch, and the keys
its acknowledged events landed on, read back from the events table (each status item names its
message group and the projection item it was applied to).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtests.model.params import LoadParams
from stack.clients import providers as client_providers
from stack.ops.cost import measured_duration
from stack.ops.forecast import TABLE_HEADER, DeployedLimits, Forecast, HotKey, Traffic, forecast, table_rows

# What a scan of the events table reads for the keys (status items: docs/architecture.md).
KEY_FIELDS: tuple[str, ...] = ("id", "group", "applied_to", "received_at")
KEYS_KEPT = 5


@dataclass(frozen=True)
class KeyRates:
    """The busiest keys of a run: the most events any one second brought to each."""

    message_groups: int = 0
    groups: list[tuple[str, int]] = field(default_factory=list)  # (group, peak events in one second)
    entities: list[tuple[str, int]] = field(default_factory=list)  # (projection item id, peak events/s)


def _peaks(seen: Counter[tuple[str, int]]) -> list[tuple[str, int]]:
    peak: dict[str, int] = {}
    for (key, _second), count in seen.items():
        peak[key] = max(peak.get(key, 0), count)
    return sorted(peak.items(), key=lambda item: (-item[1], item[0]))[:KEYS_KEPT]


def key_rates(items: Iterable[Mapping[str, Any]], acked: set[str]) -> KeyRates:
    """Peak per-second counts per message group and per projection item, over the acknowledged
    events' status items (by the second each was received)."""
    groups: Counter[tuple[str, int]] = Counter()
    entities: Counter[tuple[str, int]] = Counter()
    distinct: set[str] = set()
    for item in items:
        received = item.get("received_at")
        if item.get("id") not in acked or not isinstance(received, int | float):
            continue
        second = int(received // 1000)
        group, entity = item.get("group"), item.get("applied_to")
        if isinstance(group, str):
            distinct.add(group)
            groups[(group, second)] += 1
        if isinstance(entity, str):
            entities[(entity, second)] += 1
    return KeyRates(message_groups=len(distinct), groups=_peaks(groups), entities=_peaks(entities))


def planned_groups(providers: Sequence[str], groups: int | None) -> int:
    """Message groups the simulated providers spread over (``hookstack load --groups``)."""
    return sum(len(client_providers.get(name).group_keys(groups)) for name in providers)


def plan_traffic(
    params: LoadParams,
    providers: Sequence[str],
    *,
    hot_key_rate: float | None = None,
    worker_batch_ms: float | None = None,
    ack_p99_ms: float | None = None,
) -> Traffic:
    """A planned run at its scenario's peak rate, held for the whole duration (an upper bound for
    the shapes whose peak is shorter)."""
    return Traffic(
        offered_rps=params.peak_rate(),
        duration_s=params.duration,
        message_groups=planned_groups(providers, params.groups),
        hot_keys=[HotKey(key="--hot-key-rate", events_per_s=hot_key_rate)] if hot_key_rate else [],
        worker_batch_ms=worker_batch_ms,
        ack_p99_ms=ack_p99_ms,
        provider=providers[0] if len(providers) == 1 else None,
        basis=f"plan: {params.scenario}",
    )


def _peak_offered(result: Mapping[str, Any], summary: Mapping[str, Any]) -> float:
    rates = [point[1] for point in result.get("offered_timeline", []) if len(point) > 1]
    return float(max(rates, default=0.0) or summary.get("offered_rps") or 0.0)


def _producer_p99(summary: Mapping[str, Any]) -> float | None:
    """The producer handler's p99 from the run's per-hop figures, when its log lines were read."""
    handler = (((summary.get("per_hop") or {}).get("producer") or {}).get("handler")) or {}
    value = handler.get("p99_ms")
    return float(value) if isinstance(value, int | float) and handler.get("count") else None


def run_traffic(
    summary: Mapping[str, Any],
    result: Mapping[str, Any],
    keys: KeyRates | None,
    providers: Sequence[str],
    groups: int | None = None,
) -> Traffic:
    """The traffic a run offered, with what it measured."""
    measured = measured_duration((summary.get("per_hop") or {}).get("worker"))
    seen_groups = keys.message_groups if keys is not None else 0
    return Traffic(
        offered_rps=_peak_offered(result, summary),
        duration_s=float(summary["duration_s"]),
        message_groups=seen_groups or planned_groups(providers, groups),
        hottest_group_rps=float(keys.groups[0][1]) if keys is not None and keys.groups else None,
        hot_keys=[HotKey(key=key, events_per_s=float(rate)) for key, rate in keys.entities] if keys else [],
        achieved_rps=summary.get("achieved_rps"),
        accepted_rps=summary.get("accepted_rps"),
        worker_batch_ms=measured[0] if measured is not None and measured[0] > 0 else None,
        ack_p99_ms=summary.get("p99_ms"),
        producer_p99_ms=_producer_p99(summary),
        provider=providers[0] if len(providers) == 1 else None,
        basis=f"run on {summary.get('target')}",
    )


def section(
    summary: Mapping[str, Any],
    result: Mapping[str, Any],
    limits: DeployedLimits,
    *,
    providers: Sequence[str],
    keys: KeyRates | None = None,
    groups: int | None = None,
) -> dict[str, Any]:
    """The ``forecast`` key of a load report's summary.json."""
    predicted = forecast(limits, run_traffic(summary, result, keys, providers, groups))
    return {
        **predicted.model_dump(mode="json"),
        "keys_seen": None
        if keys is None
        else {
            "message_groups": keys.message_groups,
            "busiest_groups": [{"key": k, "peak_events_per_s": n} for k, n in keys.groups],
            "busiest_entities": [{"key": k, "peak_events_per_s": n} for k, n in keys.entities],
        },
    }


def report_table(section_: Mapping[str, Any] | None) -> tuple[tuple[str, ...], list[list[str]], list[str]] | None:
    """(header, rows, notes) of a summary's ``forecast`` key for the HTML report; None without one."""
    if not section_:
        return None
    predicted = Forecast.model_validate(dict(section_))
    notes = [
        f"{check.limit}: past it, {check.past_it}; lift: {check.lift}" for check in predicted.limits_hit
    ] + predicted.assumptions
    return TABLE_HEADER, table_rows(predicted), notes


def for_run(
    summary: Mapping[str, Any],
    result: Mapping[str, Any],
    *,
    providers: Sequence[str],
    groups: int | None = None,
    scan: Callable[[], Iterable[Mapping[str, Any]]] | None = None,
    limits: DeployedLimits | None = None,
) -> dict[str, Any]:
    """The ``forecast`` key for a finished run: ``scan`` reads the events table (projected to
    ``KEY_FIELDS``) for the keys the run's events landed on; without it the keys are the plan's."""
    from stack.config import load_config  # local import: the report's figures need no config

    keys = key_rates(scan(), set(result.get("acked_ids", []))) if scan is not None else None
    return section(
        summary,
        result,
        limits or DeployedLimits.from_hookstack(load_config()),
        providers=providers,
        keys=keys,
        groups=groups,
    )
