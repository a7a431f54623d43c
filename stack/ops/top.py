"""What `hookstack top` shows: one frame of a stage's live state, built from what can be read now.

A frame joins two sources. The stage's queues (every output of its template whose key ends in
``QueueUrl`` or ``DlqUrl``, whatever the patterns), read with SQS's approximate counts on any
target. And, where hookstack's data plane serves the stage, its ``/_hookstack/stats`` document
(``stack.embedded.gateway``): the function pools, the gateway's recent answers and the event
plane's mappings. Building a frame is pure (a recorded stats document is enough); reading is
separate, so each half is tested on its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

QUEUE_OUTPUT_SUFFIXES = ("QueueUrl", "DlqUrl")
_DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
# The event plane writes its figures every second: older than this, they are stale.
EVENT_PLANE_STALE_S = 5.0


def stage_queues(resources: Mapping[str, str]) -> dict[str, str]:
    """Queue label (the output key without ``Url``: ``Queue``, ``Dlq``, ``JobsQueue``) → URL."""
    return {key.removesuffix("Url"): url for key, url in resources.items() if key.endswith(QUEUE_OUTPUT_SUFFIXES)}


@dataclass(frozen=True)
class QueueDepth:
    label: str
    visible: int | None = None
    in_flight: int | None = None  # received, not yet deleted (ApproximateNumberOfMessagesNotVisible)
    delayed: int | None = None
    error: str | None = None


def read_depths(sqs: Any, queues: Mapping[str, str]) -> list[QueueDepth]:
    """The approximate depth of each queue; a queue that cannot be read says why, the rest go on."""
    depths = []
    for label, url in queues.items():
        try:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_DEPTH_ATTRIBUTES))["Attributes"]
        except Exception as exc:  # noqa: BLE001 - boto3 raises many types; one queue must not blank the view
            depths.append(QueueDepth(label, error=f"{type(exc).__name__}: {exc}"))
            continue
        visible, in_flight, delayed = (int(attributes.get(name, 0)) for name in _DEPTH_ATTRIBUTES)
        depths.append(QueueDepth(label, visible, in_flight, delayed))
    return depths


@dataclass(frozen=True)
class FunctionRow:
    name: str  # short name (``worker``) where the stage's outputs know it, else deployed
    served_by: str  # "gateway" or "event plane"
    environments: int
    busy: int
    idle: int
    starting: int
    queued: int
    cold_starts: int
    init_max_ms: float | None
    invocations: int
    errors: int  # raised, timed out, crashed or throttled


@dataclass(frozen=True)
class MappingRow:
    label: str
    function: str
    in_flight_batches: int
    concurrency_limit: int | None
    in_flight_groups: int
    records_deleted: int
    records_retried: int


@dataclass(frozen=True)
class RecentFigures:
    window_s: float
    covered_s: float
    acks: int
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    ack_max_ms: float | None
    others: int
    other_p99_ms: float | None
    statuses: dict[str, int]


@dataclass(frozen=True)
class TopFrame:
    stage: str
    target: str
    api_url: str
    taken_at: float  # epoch seconds
    queues: list[QueueDepth]
    functions: list[FunctionRow] = field(default_factory=list)
    mappings: list[MappingRow] = field(default_factory=list)
    recent: RecentFigures | None = None
    notes: list[str] = field(default_factory=list)  # why a part is missing


def _function_rows(pools: Mapping[str, Any], served_by: str, short: Mapping[str, str]) -> list[FunctionRow]:
    rows = []
    for deployed, pool in pools.items():
        init_ms = pool.get("init_ms") or []
        rows.append(
            FunctionRow(
                name=short.get(deployed, deployed),
                served_by=served_by,
                environments=int(pool.get("environments", 0)),
                busy=int(pool.get("busy", 0)),
                idle=int(pool.get("idle", 0)),
                starting=int(pool.get("starting", 0)),
                queued=int(pool.get("queued", 0)),
                cold_starts=int(pool.get("cold_starts", 0)),
                init_max_ms=max(init_ms) if init_ms else None,
                invocations=int(pool.get("invocations", 0)),
                errors=sum(int(pool.get(key, 0)) for key in ("errors", "timeouts", "crashes", "throttles")),
            )
        )
    return rows


def _recent(recent: Mapping[str, Any] | None) -> RecentFigures | None:
    if not recent:
        return None
    acks, others = recent.get("acks") or {}, recent.get("others") or {}
    return RecentFigures(
        window_s=float(recent.get("window_s", 0.0)),
        covered_s=float(recent.get("covered_s", 0.0)),
        acks=int(acks.get("count", 0)),
        ack_p50_ms=acks.get("p50_ms"),
        ack_p99_ms=acks.get("p99_ms"),
        ack_max_ms=acks.get("max_ms"),
        others=int(others.get("count", 0)),
        other_p99_ms=others.get("p99_ms"),
        statuses=dict(recent.get("statuses") or {}),
    )


def build_frame(
    *,
    stage: str,
    target: str,
    api_url: str,
    function_names: Mapping[str, str],
    queues: list[QueueDepth],
    stats: Mapping[str, Any] | None,
    stats_note: str | None = None,
    now: float,
) -> TopFrame:
    """One frame from the queues' depths and the data plane's stats (None: ``stats_note`` says why)."""
    notes = [stats_note] if stats is None and stats_note else []
    if stats is None:
        return TopFrame(stage, target, api_url, now, queues, notes=notes)
    short = {deployed: name for name, deployed in function_names.items()}
    functions = _function_rows(stats.get("functions") or {}, "gateway", short)
    mappings: list[MappingRow] = []
    plane = stats.get("event_plane")
    if plane:
        functions += _function_rows(plane.get("functions") or {}, "event plane", short)
        for label, mapping in (plane.get("mappings") or {}).items():
            mappings.append(
                MappingRow(
                    label=label,
                    function=short.get(mapping.get("function", ""), mapping.get("function", "?")),
                    in_flight_batches=int(mapping.get("in_flight_batches", 0)),
                    concurrency_limit=mapping.get("concurrency_limit"),
                    in_flight_groups=int(mapping.get("in_flight_groups", 0)),
                    records_deleted=int(mapping.get("records_deleted", 0)),
                    records_retried=int(mapping.get("records_retried", 0)),
                )
            )
        age = now - float(plane.get("written_at", now))
        if age > EVENT_PLANE_STALE_S:
            notes.append(f"the event plane's figures are {age:.0f} s old (is it running?)")
    else:
        notes.append("no event plane in this data plane (the emulator polls the queues): mappings not shown")
    recent = _recent(stats.get("recent"))
    if recent is None:
        notes.append("this gateway keeps no recent answers (started by an older hookstack): restart it with `up`")
    return TopFrame(stage, target, api_url, now, queues, functions, mappings, recent, notes)


# --- rendering ---------------------------------------------------------------------------------


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _table(*columns: str) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right", no_wrap=index == 0)
    return table


def _recent_lines(recent: RecentFigures | None) -> list[Text]:
    if recent is None:
        return [Text("recent answers: not available", style="dim")]
    window = f"{recent.covered_s:.0f}" if recent.covered_s < recent.window_s else f"{recent.window_s:.0f}"
    acks = Text(f"acks (2xx), last {window} s: {recent.acks}")
    if recent.acks:
        acks.append(f" · p50 {_ms(recent.ack_p50_ms)} · p99 ")
        acks.append(_ms(recent.ack_p99_ms), style="bold")
        acks.append(f" · max {_ms(recent.ack_max_ms)} ms")
    lines = [acks]
    if recent.others:
        by_status = " ".join(f"{status}×{n}" for status, n in recent.statuses.items() if not status.startswith("2"))
        lines.append(
            Text(f"other answers: {recent.others} ({by_status}) · p99 {_ms(recent.other_p99_ms)} ms", style="yellow")
        )
    return lines


def render(frame: TopFrame) -> Group:
    """The frame as rich renderables that fit 80 columns."""
    taken = dt.datetime.fromtimestamp(frame.taken_at).strftime("%H:%M:%S")
    parts: list[Any] = [
        Text.assemble(("hookstack top", "bold"), f" · {frame.stage} on {frame.target} · {taken}"),
        Text(frame.api_url, style="dim", overflow="fold"),
    ]
    queues = _table("queue", "visible", "in flight", "delayed")
    for depth in frame.queues:
        if depth.error is not None:
            queues.add_row(depth.label, Text("unreadable", style="red"), "", "")
            continue
        style = "yellow" if depth.label.endswith("Dlq") and depth.visible else None
        queues.add_row(
            depth.label, Text(_count(depth.visible), style=style or ""), _count(depth.in_flight), _count(depth.delayed)
        )
    parts += [Text(""), queues if frame.queues else Text("no queues in this stage's outputs", style="dim")]
    parts += [Text(""), *_recent_lines(frame.recent)]
    if frame.functions:
        functions = _table("function", "envs", "busy", "idle", "start", "queued", "cold", "init ms", "calls", "errors")
        for row in frame.functions:
            functions.add_row(
                row.name,
                str(row.environments),
                Text(str(row.busy), style="bold" if row.busy else ""),
                str(row.idle),
                str(row.starting),
                Text(str(row.queued), style="yellow" if row.queued else ""),
                str(row.cold_starts),
                _ms(row.init_max_ms),
                str(row.invocations),
                Text(str(row.errors), style="red" if row.errors else ""),
            )
        parts += [Text(""), functions]
    if frame.mappings:
        mappings = _table("event source mapping", "batches", "groups", "deleted", "retried")
        for mapping in frame.mappings:
            limit = "" if mapping.concurrency_limit is None else f"/{mapping.concurrency_limit}"
            mappings.add_row(
                f"{mapping.label} → {mapping.function}",
                f"{mapping.in_flight_batches}{limit}",
                str(mapping.in_flight_groups),
                str(mapping.records_deleted),
                str(mapping.records_retried),
            )
        parts += [Text(""), mappings]
    for note in frame.notes:
        parts.append(Text(note, style="dim", overflow="fold"))
    for depth in frame.queues:
        if depth.error is not None:
            parts.append(Text(f"{depth.label}: {depth.error}", style="red", overflow="fold"))
    return Group(*parts)


def read_frame(
    outputs: Any,
    *,
    read_stats: Callable[[str], Mapping[str, Any]],
    clock: Callable[[], float],
) -> TopFrame:
    """A frame of a deployed stage (``StackOutputs``): its queues, and its data plane's stats
    where hookstack's gateway serves it (``read_stats(api_url)``)."""
    depths = read_depths(outputs.client("sqs"), stage_queues(outputs.resources))
    stats: Mapping[str, Any] | None = None
    note = None
    if outputs.gateway != "hookstack":
        note = f"functions and recent answers: not supported on this target (gateway: {outputs.gateway})"
    else:
        try:
            stats = read_stats(outputs.api_url)
        except (OSError, ValueError) as exc:
            note = f"the data plane's stats could not be read: {exc}"
    return build_frame(
        stage=outputs.stage,
        target=outputs.target,
        api_url=outputs.api_url if outputs.has_api else "no API (no pattern of the stage has a route)",
        function_names=outputs.function_names,
        queues=depths,
        stats=stats,
        stats_note=note,
        now=clock(),
    )
