"""What a rate of webhooks meets on AWS: each quota or limit the deployed stage runs into, the
demand on it, the headroom, and what happens past it.

The embedded emulator never throttles, so a flash sale above what the template allows on AWS
passes locally and fails in production. This is the arithmetic that says so beforehand. Pure
functions over typed models; quotas are data (``stack/data/aws_quotas.json``: the documented
defaults, the date they were read and the page each comes from); the stage's own limits come
from the rendered definition (``stack/definition/app.py``); every other figure is an input with
a documented default, and every forecast lists the assumptions it used.

What one webhook costs the quotas (read from the handlers):

- API Gateway: one request (plus any ``GET /events/{id}`` polls), against the stage's throttle
  and the account's, both token buckets: a rate above the limit is served from the bucket for
  ``burst / (rate - limit)`` seconds, then answered 429.
- SQS: the producer makes one ``SendMessage`` per request that reaches it (never batched: each
  request is answered on its own), so a FIFO queue without high-throughput mode caps the stage
  at 300 requests/s; in high-throughput mode the queue's Regional figure applies, and one message
  group, which maps to one partition, is capped at a partition's 300 calls/s.
- Lambda: API-path concurrency is rate x the time the path holds a function (Little's law); the
  worker needs ``rate x batch duration / messages per batch`` concurrent invocations, capped by
  the active message groups (one batch in flight per FIFO group) and the mapping's
  MaximumConcurrency. Past the cap the backlog grows by the difference and drains afterwards.
- DynamoDB: the worker's one ``TransactWriteItems`` per event writes the event's status item
  (keyed by event id: never hot) and the entity's projection item, billed at twice the write
  units; an entity written by many events (one product in a flash sale) is a hot key, capped at
  a partition's 1,000 write units/s.
"""

from __future__ import annotations

import math
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stack.errors import HookstackError
from stack.ops.cost import DEFAULT_DURATION_MS, TRANSACTION_WRITE_FACTOR

QUOTAS_RESOURCE = "data/aws_quotas.json"
# Write units of one projection item (under 1 KB) in the worker's transaction.
PROJECTION_WRITE_UNITS = 1 * TRANSACTION_WRITE_FACTOR
# Write units one status item takes over its life: RECEIVED (producer, 1) and PROCESSED in the
# worker's transaction (2). Spread over an event's life, on its own key.
STATUS_ITEM_WRITE_UNITS = 1 + TRANSACTION_WRITE_FACTOR
SCALING_WINDOW_S = 10.0  # Lambda adds its scaling rate of environments per this many seconds
HOT_KEYS_SHOWN = 3
# Providers whose delivery timeout the quotas file holds: provider -> quota name.
PROVIDER_TIMEOUTS: dict[str, str] = {
    "shopify": "shopify_delivery_timeout_s",
    "github": "github_delivery_timeout_s",
}


# --- quotas ----------------------------------------------------------------------------------


class Quota(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(gt=0)
    unit: str
    scope: str
    source: str = Field(pattern=r"^https://")
    note: str = ""


class RegionalQuota(BaseModel):
    """A quota whose figure depends on the Region; Regions the documentation names only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str
    scope: str
    source: str = Field(pattern=r"^https://")
    note: str = ""
    by_region: dict[str, float]


class QuotaTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sqs_fifo_calls_per_action: Quota
    sqs_fifo_batched_messages: Quota
    sqs_fifo_partition_calls_per_action: Quota
    apigateway_account_rps: Quota
    apigateway_account_burst: Quota
    lambda_account_concurrency: Quota
    lambda_scaling_rate: Quota
    lambda_sqs_maximum_concurrency: Quota
    dynamodb_partition_write_units: Quota
    dynamodb_partition_read_units: Quota
    shopify_delivery_timeout_s: Quota
    github_delivery_timeout_s: Quota


class RegionalTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sqs_fifo_high_throughput_calls_per_action: RegionalQuota
    apigateway_account_rps: RegionalQuota
    apigateway_account_burst: RegionalQuota


class Quotas(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    taken_on: date
    note: str
    quotas: QuotaTable
    regional: RegionalTable

    def in_region(self, name: str, region: str) -> tuple[float | None, str]:
        """(figure, source) of quota ``name`` in ``region``: the Regional figure where the file has
        one, else the default; None where the quota is Regional only and the Region is not listed."""
        regional: RegionalQuota | None = getattr(self.regional, name, None)
        if regional is not None and region in regional.by_region:
            return regional.by_region[region], regional.source
        default: Quota | None = getattr(self.quotas, name, None)
        if default is not None:
            return default.value, default.source
        if regional is not None:
            return None, regional.source
        raise KeyError(name)


def load_quotas(path: Path | None = None) -> Quotas:
    """The packaged quota figures, or another quotas file of the same shape."""
    try:
        text = path.read_text() if path else resources.files("stack").joinpath(QUOTAS_RESOURCE).read_text()
    except OSError as exc:
        raise HookstackError(f"cannot read quotas file {path or QUOTAS_RESOURCE}: {exc}") from None
    try:
        return Quotas.model_validate_json(text)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "file"
        raise HookstackError(f"quotas file {path or QUOTAS_RESOURCE} is not valid: {where}: {error['msg']}") from None


# --- inputs ----------------------------------------------------------------------------------


class DeployedLimits(BaseModel):
    """The limits the stage's template sets, as the forecast needs them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str
    fifo_high_throughput: bool
    stage_rate_limit: float = Field(gt=0)
    stage_burst_limit: int = Field(ge=0)
    worker_batch_size: int = Field(ge=1, le=10)
    worker_max_concurrency: int = Field(ge=2, le=1000)
    worker_timeout_s: int = Field(ge=1)
    worker_reserved_concurrency: int | None = Field(None, ge=0)
    max_receive_count: int = Field(ge=1)

    @classmethod
    def from_definition(cls, stack: Any, region: str, max_receive_count: int) -> DeployedLimits:
        """Read from a rendered ``StackDefinition``: its ingestion queue, worker mapping and stage."""
        mapping = stack.event_source_mappings[0]
        queue = next(q for q in stack.queues if q.logical_id == mapping.queue)
        worker = next(f for f in stack.functions if f.logical_id == mapping.function)
        stage = stack.apis[0].stage
        return cls(
            region=region,
            fifo_high_throughput=queue.high_throughput,
            stage_rate_limit=stage.throttle_rate_limit,
            stage_burst_limit=stage.throttle_burst_limit,
            worker_batch_size=mapping.batch_size,
            worker_max_concurrency=mapping.maximum_concurrency,
            worker_timeout_s=worker.timeout_seconds,
            worker_reserved_concurrency=worker.reserved_concurrency,
            max_receive_count=max_receive_count,
        )

    @classmethod
    def from_hookstack(cls, config: Any) -> DeployedLimits:
        """The limits a ``HookstackConfig`` deploys (through the same definition every target gets)."""
        from stack.definition.app import hookstack_stack  # local import: the pure forecast needs no stack

        return cls.from_definition(hookstack_stack(config), config.region, config.max_receive_count)


class HotKey(BaseModel):
    """An entity many events write: its projection item's events per second at the busiest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    events_per_s: float = Field(ge=0)


class Traffic(BaseModel):
    """What is offered, and what is known about how the stage answers it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offered_rps: float = Field(gt=0)  # webhook deliveries per second at the peak
    duration_s: float = Field(gt=0)  # how long the peak lasts
    message_groups: int = Field(ge=1)  # distinct message groups the traffic spreads over
    hottest_group_rps: float | None = Field(None, ge=0)  # default: an even spread over the groups
    hot_keys: list[HotKey] = []
    status_rps: float = Field(0.0, ge=0)  # GET /events/{id} polls per second
    achieved_rps: float | None = Field(None, ge=0)  # what a run got answered, for context
    accepted_rps: float | None = Field(None, ge=0)
    worker_batch_ms: float | None = Field(None, gt=0)  # measured duration of one worker batch
    messages_per_batch: float | None = Field(None, ge=1, le=10)  # default: full batches
    ack_p99_ms: float | None = Field(None, ge=0)
    # The producer function's own p99 when the run measured it (its log lines): what a Lambda
    # execution lasts, without the queueing in front of it that an overloaded emulator adds.
    producer_p99_ms: float | None = Field(None, ge=0)
    provider: str | None = None  # whose delivery timeout applies
    basis: str = "plan"  # where the figures come from: a plan, or a run on a target

    @property
    def busiest_group_rps(self) -> float:
        if self.hottest_group_rps is not None:
            return min(self.hottest_group_rps, self.offered_rps)
        return self.offered_rps / self.message_groups


# --- the forecast ----------------------------------------------------------------------------


class LimitCheck(BaseModel):
    """One quota or limit against the demand the traffic puts on it."""

    name: str  # stable id, e.g. "sqs.send"
    limit: str  # what it is, for people
    quota: float | None  # None: no documented figure for this Region
    demand: float
    unit: str
    headroom: float | None  # quota / demand: above 1 there is room; None without demand or quota
    hit: bool
    hit_after_s: float | None  # seconds into the peak the limit starts refusing; None when not hit
    past_it: str  # what happens beyond it
    lift: str  # the setting or request that raises it
    source: str  # where the quota comes from: a documentation page, or the stage's setting


class WorkerForecast(BaseModel):
    batch_ms: float
    batch_basis: str
    messages_per_batch: float
    needed_concurrency: float
    concurrency_cap: int
    capped_by: str
    drain_events_per_s: float  # what the worker side gets through at the cap
    backlog_at_end: float  # events still queued when the peak ends
    drain_after_s: float | None  # time to empty that backlog once traffic stops; None: 0 events


class Forecast(BaseModel):
    region: str
    quotas_taken_on: date
    basis: str
    offered_rps: float
    duration_s: float
    achieved_rps: float | None
    accepted_rps: float | None
    producer_rps: float  # what gets past API Gateway to the producer, steady state
    checks: list[LimitCheck]
    worker: WorkerForecast
    assumptions: list[str]

    def check(self, name: str) -> LimitCheck:
        return next(c for c in self.checks if c.name == name)

    @property
    def limits_hit(self) -> list[LimitCheck]:
        return [c for c in self.checks if c.hit]


def _headroom(quota: float | None, demand: float) -> float | None:
    if quota is None or demand <= 0:
        return None
    return quota / demand


def _check(
    name: str,
    limit: str,
    quota: float | None,
    demand: float,
    unit: str,
    *,
    past_it: str,
    lift: str,
    source: str,
    burst: float = 0.0,
) -> LimitCheck:
    """A limit hit once the demand exceeds it, after ``burst`` units of a token bucket ran out."""
    hit = quota is not None and demand > quota
    after = None
    if hit:
        assert quota is not None
        after = burst / (demand - quota)
    return LimitCheck(
        name=name,
        limit=limit,
        quota=quota,
        demand=demand,
        unit=unit,
        headroom=_headroom(quota, demand),
        hit=hit,
        hit_after_s=after,
        past_it=past_it,
        lift=lift,
        source=source,
    )


def _api_checks(limits: DeployedLimits, traffic: Traffic, quotas: Quotas) -> list[LimitCheck]:
    requests = traffic.offered_rps + traffic.status_rps
    account, account_source = quotas.in_region("apigateway_account_rps", limits.region)
    burst, _ = quotas.in_region("apigateway_account_burst", limits.region)
    return [
        _check(
            "apigateway.stage",
            "API Gateway stage",
            limits.stage_rate_limit,
            requests,
            "req/s",
            burst=limits.stage_burst_limit,
            past_it="429 Too Many Requests: the provider retries later",
            lift="throttle_rate_limit / throttle_burst_limit in hookstack.toml",
            source="the stage's setting (throttle_rate_limit)",
        ),
        _check(
            "apigateway.account",
            "API Gateway account",
            account,
            requests,
            "req/s",
            burst=burst or 0.0,
            past_it="429 on every API of the account in the Region: providers retry",
            lift="a quota increase (Service Quotas, API Gateway throttle rate)",
            source=account_source,
        ),
    ]


def _sqs_checks(limits: DeployedLimits, traffic: Traffic, quotas: Quotas, producer_rps: float) -> list[LimitCheck]:
    past_send = (
        "SendMessage throttled: the producer answers 503 and the provider retries "
        "(Shopify 8 times over 4 hours); acknowledged events are not lost"
    )
    if not limits.fifo_high_throughput:
        quota, source = quotas.in_region("sqs_fifo_calls_per_action", limits.region)
        return [
            _check(
                "sqs.send",
                "SQS send (no high thr.)",
                quota,
                producer_rps,
                "calls/s",
                past_it=past_send,
                lift="fifo_high_throughput = true in hookstack.toml",
                source=source,
            )
        ]
    quota, source = quotas.in_region("sqs_fifo_high_throughput_calls_per_action", limits.region)
    partition, partition_source = quotas.in_region("sqs_fifo_partition_calls_per_action", limits.region)
    group_rps = traffic.busiest_group_rps * producer_rps / traffic.offered_rps
    return [
        _check(
            "sqs.send",
            "SQS send (high thr.)",
            quota,
            producer_rps,
            "calls/s",
            past_it=past_send,
            lift="a quota increase (Service Quotas), or a Region with a higher figure"
            if quota is not None
            else f"no documented figure for {limits.region} in the quotas file: check Service Quotas",
            source=source,
        ),
        _check(
            "sqs.send.group",
            "SQS busiest group",
            partition,
            group_rps,
            "calls/s",
            past_it=past_send + "; only that group's deliveries",
            lift="more ordering keys (message groups): no setting lifts one partition",
            source=partition_source,
        ),
    ]


def _other_fifo_mode(limits: DeployedLimits, quotas: Quotas, producer_rps: float) -> str:
    """What the same sends would meet with the queue's FIFO mode the other way round."""
    on = not limits.fifo_high_throughput
    key = "sqs_fifo_high_throughput_calls_per_action" if on else "sqs_fifo_calls_per_action"
    quota, _ = quotas.in_region(key, limits.region)
    setting = f"fifo_high_throughput = {'true' if on else 'false'}"
    if quota is None:
        return f"with {setting}: no documented SQS figure for {limits.region}"
    verdict = "would be throttled" if producer_rps > quota else "would not be throttled"
    return (
        f"with {setting} the queue takes {quota:g} SendMessage calls/s in {limits.region}: "
        f"{producer_rps:g}/s {verdict} (headroom {quota / producer_rps:.2f}x)"
        if producer_rps > 0
        else f"with {setting} the queue takes {quota:g} SendMessage calls/s in {limits.region}"
    )


def _worker(limits: DeployedLimits, traffic: Traffic, producer_rps: float) -> WorkerForecast:
    per_batch = traffic.messages_per_batch or float(limits.worker_batch_size)
    if traffic.worker_batch_ms is not None:
        batch_ms, basis = traffic.worker_batch_ms, f"measured ({traffic.basis})"
    else:
        batch_ms = per_batch * DEFAULT_DURATION_MS["worker"]
        basis = f"assumed {DEFAULT_DURATION_MS['worker']:g} ms per message"
    batch_s = batch_ms / 1000
    caps = {"message groups": traffic.message_groups, "MaximumConcurrency": limits.worker_max_concurrency}
    if limits.worker_reserved_concurrency is not None:
        caps["reserved concurrency"] = limits.worker_reserved_concurrency
    capped_by = min(caps, key=lambda name: caps[name])
    cap = caps[capped_by]
    needed = producer_rps * batch_s / per_batch
    drain = cap * per_batch / batch_s if batch_s > 0 else math.inf
    backlog = max(0.0, (producer_rps - drain) * traffic.duration_s)
    return WorkerForecast(
        batch_ms=batch_ms,
        batch_basis=basis,
        messages_per_batch=per_batch,
        needed_concurrency=needed,
        concurrency_cap=cap,
        capped_by=capped_by,
        drain_events_per_s=drain,
        backlog_at_end=backlog,
        drain_after_s=backlog / drain if backlog > 0 and drain > 0 else None,
    )


def _worker_checks(
    limits: DeployedLimits, traffic: Traffic, worker: WorkerForecast, producer_rps: float
) -> list[LimitCheck]:
    lift = {
        "message groups": "more ordering keys (message groups): a FIFO group has one batch in flight",
        "MaximumConcurrency": "worker_max_concurrency in hookstack.toml (2-1000)",
        "reserved concurrency": "the worker's reserved concurrency",
    }[worker.capped_by]
    group_capacity = worker.messages_per_batch / (worker.batch_ms / 1000)
    group_rps = traffic.busiest_group_rps * producer_rps / traffic.offered_rps
    backlog_growth = max(0.0, producer_rps - worker.drain_events_per_s)
    return [
        _check(
            "worker.concurrency",
            "worker concurrency",
            worker.concurrency_cap,
            worker.needed_concurrency,
            "batches",
            past_it=f"the backlog grows by {backlog_growth:,.0f} events/s: acknowledged, processed late",
            lift=lift,
            source="the stage's mapping (worker_max_concurrency) and the traffic's message groups",
        ),
        _check(
            "worker.group",
            "worker busiest group",
            group_capacity,
            group_rps,
            "events/s",
            past_it="that group's backlog grows: its events stay in order, processed late",
            lift="a faster worker, or more ordering keys",
            source="the worker's batch duration",
        ),
        _check(
            "worker.timeout",
            "worker batch timeout",
            float(limits.worker_timeout_s),
            worker.batch_ms / 1000,
            "s",
            past_it=(
                f"the batch times out and is retried whole; dead-lettered after {limits.max_receive_count} receives"
            ),
            lift="worker_timeout_seconds, or worker_batch_size, in hookstack.toml",
            source="the stage's setting (worker_timeout_seconds)",
        ),
    ]


def _lambda_checks(
    limits: DeployedLimits, traffic: Traffic, quotas: Quotas, worker: WorkerForecast, producer_rps: float
) -> tuple[list[LimitCheck], list[str]]:
    if traffic.producer_p99_ms is not None:
        api_s = traffic.producer_p99_ms / 1000
        basis = (
            f"API-path concurrency from the producer's measured p99 ({traffic.producer_p99_ms:g} ms, {traffic.basis})"
        )
    elif traffic.ack_p99_ms is not None:
        api_s = traffic.ack_p99_ms / 1000
        basis = f"API-path concurrency from the ack p99 ({traffic.ack_p99_ms:g} ms, {traffic.basis}): an upper bound"
    else:
        api_s = DEFAULT_DURATION_MS["producer"] / 1000
        basis = (
            f"API-path concurrency from an assumed producer duration of {DEFAULT_DURATION_MS['producer']:g} ms "
            "(the authorizer's result is cached per token)"
        )
    producer_concurrency = producer_rps * api_s
    status_concurrency = traffic.status_rps * DEFAULT_DURATION_MS["status"] / 1000
    worker_concurrency = min(worker.needed_concurrency, worker.concurrency_cap)
    total = producer_concurrency + status_concurrency + worker_concurrency
    account, account_source = quotas.in_region("lambda_account_concurrency", limits.region)
    rate, rate_source = quotas.in_region("lambda_scaling_rate", limits.region)
    assert account is not None and rate is not None  # not Regional
    scaling = _check(
        "lambda.scaling",
        "Lambda scaling",
        rate,
        producer_concurrency,
        "envs",
        past_it=(
            f"invocations beyond the environments ready are throttled for up to "
            f"{math.ceil(producer_concurrency / rate) * SCALING_WINDOW_S - SCALING_WINDOW_S:g} s: "
            "API Gateway answers 5xx, providers retry"
        ),
        lift="a gentler ramp, or provisioned concurrency (not set by the template)",
        source=rate_source,
    )
    checks = [
        _check(
            "lambda.concurrency",
            "Lambda concurrency",
            account,
            total,
            "exec",
            past_it="invocations throttled: the API path answers 5xx (providers retry), the worker's backlog grows",
            lift="a quota increase (Service Quotas, Lambda concurrent executions)",
            source=account_source,
        ),
        scaling,
    ]
    return checks, [basis]


def _hottest(traffic: Traffic) -> list[HotKey]:
    return sorted(traffic.hot_keys, key=lambda k: k.events_per_s, reverse=True)[:HOT_KEYS_SHOWN]


def _dynamodb_checks(traffic: Traffic, quotas: Quotas, limits: DeployedLimits) -> list[LimitCheck]:
    quota, source = quotas.in_region("dynamodb_partition_write_units", limits.region)
    return [
        _check(
            f"dynamodb.hot_key.{index}",
            f"DynamoDB key {index}",
            quota,
            key.events_per_s * PROJECTION_WRITE_UNITS,
            "WCU/s",
            past_it=(
                "the worker's transaction is throttled: the record fails, SQS redelivers it, "
                f"dead-lettered after {limits.max_receive_count} receives"
            ),
            lift="no setting: one item's partition is capped; spread the entity's writes",
            source=source,
        )
        for index, key in enumerate(_hottest(traffic), start=1)
    ]


def _timeout_check(traffic: Traffic, quotas: Quotas) -> list[LimitCheck]:
    name = PROVIDER_TIMEOUTS.get(traffic.provider or "")
    if name is None or traffic.ack_p99_ms is None:
        return []
    quota: Quota = getattr(quotas.quotas, name)
    return [
        _check(
            "provider.timeout",
            f"{traffic.provider} timeout (p99)",
            quota.value,
            traffic.ack_p99_ms / 1000,
            "s",
            past_it="the provider counts the delivery failed and retries it",
            lift="a faster ack path (nothing in the template)",
            source=quota.source,
        )
    ]


def forecast(limits: DeployedLimits, traffic: Traffic, quotas: Quotas | None = None) -> Forecast:
    """Every quota the traffic meets on the deployed stage, at its peak rate."""
    quotas = quotas or load_quotas()
    api = _api_checks(limits, traffic, quotas)
    account_rps = api[1].quota if api[1].quota is not None else math.inf
    # Past a throttle the producer sees what API Gateway lets through (the bucket empties quickly).
    producer_rps = min(traffic.offered_rps, limits.stage_rate_limit, account_rps)
    worker = _worker(limits, traffic, producer_rps)
    lambda_checks, lambda_notes = _lambda_checks(limits, traffic, quotas, worker, producer_rps)
    checks = [
        *api,
        *_sqs_checks(limits, traffic, quotas, producer_rps),
        *lambda_checks,
        *_worker_checks(limits, traffic, worker, producer_rps),
        *_dynamodb_checks(traffic, quotas, limits),
        *_timeout_check(traffic, quotas),
    ]
    notes = [
        f"rates are at the peak ({traffic.offered_rps:g} req/s for {traffic.duration_s:g} s); a throttle with a "
        "burst is hit once its bucket, full at the start, has emptied",
        f"the producer sends one SQS message per request it gets: {producer_rps:g}/s past API Gateway",
        f"worker: {worker.messages_per_batch:g} messages per batch, {worker.batch_ms:g} ms per batch "
        f"({worker.batch_basis})",
        f"{traffic.message_groups} message groups; busiest {traffic.busiest_group_rps:g} req/s"
        + ("" if traffic.hottest_group_rps is not None else " (an even spread)"),
        *lambda_notes,
        f"events table: keyed by event id, {STATUS_ITEM_WRITE_UNITS} write units per event over its life: "
        "no hot key there; a hot key is an entity's projection item "
        f"({PROJECTION_WRITE_UNITS} WCU per event in the transaction)",
        f"default quotas as documented on {quotas.taken_on.isoformat()}: an account's own may differ",
    ]
    notes.append(_other_fifo_mode(limits, quotas, producer_rps))
    notes += [
        f"DynamoDB key {index}: {key.key}, {key.events_per_s:g} events/s"
        for index, key in enumerate(_hottest(traffic), start=1)
    ]
    if not traffic.hot_keys:
        notes.append("no hot keys given: DynamoDB partitions not forecast")
    return Forecast(
        region=limits.region,
        quotas_taken_on=quotas.taken_on,
        basis=traffic.basis,
        offered_rps=traffic.offered_rps,
        duration_s=traffic.duration_s,
        achieved_rps=traffic.achieved_rps,
        accepted_rps=traffic.accepted_rps,
        producer_rps=producer_rps,
        checks=checks,
        worker=worker,
        assumptions=notes,
    )


def describe_hit(check: LimitCheck) -> str:
    """When a limit starts refusing, for a table cell."""
    if not check.hit:
        return "no" if check.quota is not None else "unknown"
    assert check.hit_after_s is not None
    return "at once" if check.hit_after_s < 0.05 else f"after {check.hit_after_s:.1f} s"


TABLE_HEADER: tuple[str, ...] = ("limit", "quota", "demand", "headroom", "hit")


def _figure(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table_rows(result: Forecast) -> list[list[str]]:
    """One row per check, in ``TABLE_HEADER`` order: the CLI's table and the load report's."""
    return [
        [
            check.limit,
            f"{_figure(check.quota)} {check.unit}" if check.quota is not None else "unknown",
            f"{_figure(check.demand)} {check.unit}",
            f"{check.headroom:.2f}x" if check.headroom is not None else "—",
            describe_hit(check),
        ]
        for check in result.checks
    ]
