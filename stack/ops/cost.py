"""What a load test costs on AWS: estimated from its report afterwards, or from a plan before.

Pure functions over typed models. Prices are data (``stack/data/aws_prices.json``: public
us-east-1 list prices, the date they were taken and the page each comes from); every other figure
the estimate needs is a field of ``CostConfig`` with a documented default, and every estimate
lists the assumptions it used, so a number is never presented without its basis.

What one load-test request costs (the stack in ``stack/definition/app.py``):

- API Gateway REST: every request the stage received, including those it answered 4xx/5xx.
- Lambda authorizer: called on a cache miss only. The REQUEST authorizer's result is cached per
  identity header for ``authorizer_cache_ttl_s``; API Gateway does not promise one shared cache,
  so we assume ``authorizer_cache_hit_ratio`` (default 0.9) rather than the ideal of one call per
  tenant per TTL, and never fewer calls than that ideal.
- Lambda producer: every ingest request not throttled (429) — including 4xx it refuses itself
  and requests the authorizer refused (an upper bound: the report does not say which 401/403
  came from where).
- SQS FIFO: one SendMessage per 202 (``acks``: a provider's retry of a delivery is sent again and
  dropped by the queue's deduplication), and per worker invocation one ReceiveMessage and one
  DeleteMessageBatch for the distinct events (``accepted``); each 64 KB chunk of a request's
  payload bills as one request.
- Lambda worker: ``ceil(accepted / worker_messages_per_batch)`` invocations (default one message
  per batch: the most requests a FIFO queue with many message groups can cost).
- DynamoDB on-demand: the producer writes RECEIVED per 202 (1 WRU); the worker makes one
  TransactWriteItems per processed event, the projection and the status item (PROCESSED, the
  applied marker), billed at twice the write units: 2 items x 2 = 4 WRU. Before the transaction
  it made five single writes (PROCESSING, the idempotency record in progress, the projection, the
  idempotency record completed, PROCESSED: 5 WRU), and the projection item grew by one event id
  (~37 B) per event, so a busy entity's writes cost more units each. Items stay under 1 KB.
  ``GET /events/{id}``: one strongly consistent read (1 RRU).
- S3: bodies above the claim-check threshold: one PUT per 202 (producer), one GET per distinct
  event (worker).
- CloudWatch Logs: ``log_bytes_per_invocation`` per invocation (platform START/END/REPORT lines
  plus one structured log line).
- Lambda INIT (billed since 2025-08-01): one cold start per execution environment, estimated
  with Little's law (concurrency = invocation rate x duration), the worker capped by the event
  source mapping's maximum concurrency.

Not counted (each well under a cent for a load test, or not caused by it): SSM/KMS reads of the
cached secrets, data transfer of the small 202 responses, S3 storage of claim checks, idle
event-source polling, redeliveries after worker failures and DLQ traffic, the free tier (ignored:
see the prices file).
"""

from __future__ import annotations

import math
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stack.errors import HookstackError

FUNCTIONS: tuple[str, ...] = ("authorizer", "producer", "worker", "status")
DEFAULT_MEMORY_MB: dict[str, int] = {"authorizer": 256, "producer": 512, "worker": 1024, "status": 256}
# Warm durations on AWS, used only when a report gives no measured figure for a function. The
# worker's figure is per message (a pydantic validation and one DynamoDB transaction).
DEFAULT_DURATION_MS: dict[str, float] = {"authorizer": 20.0, "producer": 50.0, "worker": 100.0, "status": 20.0}
SQS_CHUNK_BYTES = 64 * 1024
CLAIM_CHECK_MESSAGE_BYTES = 300  # {"claim_check": {bucket, key, bytes, sha256}}
GIB = 1024**3
CONFIRM_FLAG = "--i-understand-cost"
DEFAULT_THRESHOLD_RPS = 50.0
PRICES_RESOURCE = "data/aws_prices.json"
# The worker's DynamoDB write units per processed event (items < 1 KB, one WRU each when written
# alone). TransactWriteItems bills twice the write units of each item it writes.
TRANSACTION_WRITE_FACTOR = 2
WORKER_TRANSACTION_ITEMS = 2  # the projection and the event's status item
WORKER_WRITE_UNITS_PER_EVENT = WORKER_TRANSACTION_ITEMS * TRANSACTION_WRITE_FACTOR
# Before the single transaction: PROCESSING, idempotency in progress, projection, idempotency
# completed, PROCESSED, one WRU each (and more as the projection item grew).
PREVIOUS_WORKER_WRITE_UNITS_PER_EVENT = 5


# --- prices -----------------------------------------------------------------------------------


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    usd: float = Field(ge=0)
    per: int = Field(gt=0)  # usd is the price of this many units
    unit: str
    source: str = Field(pattern=r"^https://")
    note: str = ""

    @property
    def unit_usd(self) -> float:
        return self.usd / self.per


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    apigateway_rest_request: Price
    lambda_request: Price
    lambda_gb_second_x86_64: Price
    lambda_gb_second_arm64: Price
    sqs_fifo_request: Price
    dynamodb_write_request_unit: Price
    dynamodb_read_request_unit: Price
    s3_put_request: Price
    s3_get_request: Price
    cloudwatch_logs_ingested_gb: Price


class Prices(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str
    currency: Literal["USD"]
    taken_on: date
    free_tier: str
    tiers: str
    prices: PriceTable


def load_prices(path: Path | None = None) -> Prices:
    """The packaged us-east-1 list prices, or another prices file of the same shape."""
    try:
        text = path.read_text() if path else resources.files("stack").joinpath(PRICES_RESOURCE).read_text()
    except OSError as exc:
        raise HookstackError(f"cannot read prices file {path or PRICES_RESOURCE}: {exc}") from None
    try:
        return Prices.model_validate_json(text)
    except ValidationError as exc:
        raise HookstackError(f"prices file {path or PRICES_RESOURCE} is not valid: {_first_error(exc)}") from None


# --- inputs -----------------------------------------------------------------------------------


def _with_defaults(value: dict[str, Any], defaults: dict[str, Any], what: str) -> dict[str, Any]:
    unknown = set(value) - set(FUNCTIONS)
    if unknown:
        raise ValueError(f"{what}: unknown functions {sorted(unknown)} (known: {', '.join(FUNCTIONS)})")
    return {**defaults, **value}


class CostConfig(BaseModel):
    """Every assumption of an estimate. Defaults describe the stack as ``stack/definition/app.py`` builds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_mb: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_MEMORY_MB))
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    # Billed duration per invocation when the report has no measured mean for the function;
    # the worker's figure is per message.
    duration_ms: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_DURATION_MS))
    init_ms: float = Field(1000.0, ge=0)  # Python + Powertools + pydantic cold start
    authorizer_cache_ttl_s: int = Field(300, ge=0, le=3600)
    authorizer_cache_hit_ratio: float = Field(0.9, ge=0, le=1)
    tenants: int = Field(1, ge=1)  # distinct identity tokens sending
    worker_messages_per_batch: float = Field(1.0, ge=1, le=10)
    worker_max_concurrency: int = Field(2, ge=1)
    producer_writes_per_event: int = Field(1, ge=0)
    worker_writes_per_event: int = Field(WORKER_WRITE_UNITS_PER_EVENT, ge=0)
    worker_reads_per_event: int = Field(0, ge=0)
    status_reads_per_request: int = Field(1, ge=0)
    body_bytes: int = Field(8 * 1024, ge=0)  # when the report has no mean_body_bytes
    message_attribute_bytes: int = Field(512, ge=0)  # event_id, tenant, provider, topic, …
    claim_check_bytes: int = Field(200 * 1024, gt=0)
    log_bytes_per_invocation: int = Field(1000, ge=0)

    @field_validator("memory_mb", mode="before")
    @classmethod
    def _memory(cls, value: dict[str, int]) -> dict[str, int]:
        merged = _with_defaults(dict(value), DEFAULT_MEMORY_MB, "memory_mb")
        for name, mb in merged.items():
            if not 128 <= int(mb) <= 10240:
                raise ValueError(f"memory_mb[{name}]={mb}: Lambda memory is 128–10240 MB")
        return merged

    @field_validator("duration_ms", mode="before")
    @classmethod
    def _durations(cls, value: dict[str, float]) -> dict[str, float]:
        merged = _with_defaults(dict(value), DEFAULT_DURATION_MS, "duration_ms")
        if any(float(ms) < 0 for ms in merged.values()):
            raise ValueError("duration_ms: durations cannot be negative")
        return merged

    @classmethod
    def from_hookstack(cls, config: Any, **overrides: Any) -> CostConfig:
        """Take memory sizes and stage settings from a ``HookstackConfig`` and its stack."""
        from stack.definition.app import hookstack_stack  # local import: the pure estimate needs no stack

        memory = {f.logical_id.removesuffix("Function").lower(): f.memory_mb for f in hookstack_stack(config).functions}
        values: dict[str, Any] = {
            "memory_mb": {name: mb for name, mb in memory.items() if name in FUNCTIONS},
            "architecture": config.architecture,
            "authorizer_cache_ttl_s": config.authorizer_ttl_seconds,
            "tenants": len(config.tenants),
            "worker_max_concurrency": config.worker_max_concurrency,
            "claim_check_bytes": config.claim_check_bytes,
        }
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if "memory_mb" in overrides:
            overrides["memory_mb"] = {**values["memory_mb"], **overrides["memory_mb"]}
        values.update(overrides)
        return cls(**values)


class LoadReport(BaseModel):
    """The keys of a load-test JSON summary the estimate reads; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    requests: int = Field(ge=0)
    accepted: int = Field(ge=0)
    status_counts: dict[str, int] = {}
    achieved_rps: float | None = Field(None, ge=0)
    duration_s: float = Field(gt=0)
    # {hop: {p50_ms, mean_ms, count}}, or the harness's {"available": …, hop: {"runtime": stats,
    # "handler": stats}}; read by ``measured_duration``.
    per_hop: dict[str, Any] = {}
    # Optional refinements a report may carry.
    status_requests: int = Field(0, ge=0)  # GET /events/{id} calls included in `requests`
    mean_body_bytes: float | None = Field(None, ge=0)
    claim_checked: int | None = Field(None, ge=0)  # accepted bodies that went to S3
    acks: int | None = Field(None, ge=0)  # 202 responses, retries included (default: accepted)
    target: str | None = None  # where the run measured its durations

    @field_validator("status_counts", mode="before")
    @classmethod
    def _string_codes(cls, value: Any) -> Any:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("per_hop", mode="before")
    @classmethod
    def _absent_hops(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {}

    @model_validator(mode="after")
    def _consistent(self) -> LoadReport:
        if self.accepted > self.requests:
            raise ValueError(f"accepted ({self.accepted}) exceeds requests ({self.requests})")
        if self.status_requests > self.requests:
            raise ValueError(f"status_requests ({self.status_requests}) exceeds requests ({self.requests})")
        if self.acks is not None and not self.accepted <= self.acks <= self.requests:
            raise ValueError(
                f"acks ({self.acks}) must lie between accepted ({self.accepted}) and requests ({self.requests})"
            )
        if self.claim_checked is not None and self.claim_checked > self.accepted:
            raise ValueError(f"claim_checked ({self.claim_checked}) exceeds accepted ({self.accepted})")
        return self


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "report"
    return f"{where}: {error['msg']}"


def parse_report(report: dict[str, Any] | LoadReport) -> LoadReport:
    if isinstance(report, LoadReport):
        return report
    if not isinstance(report, dict):
        raise HookstackError("a load report is a JSON object (requests, accepted, duration_s, …)")
    try:
        return LoadReport.model_validate(report)
    except ValidationError as exc:
        raise HookstackError(f"load report: {_first_error(exc)}") from None


# --- the estimate ----------------------------------------------------------------------------


class CostLine(BaseModel):
    service: str
    item: str
    quantity: float
    unit: str
    unit_usd: float
    price: str  # as the pricing page states it, e.g. "$3.50 per 1M request"
    usd: float


class CostEstimate(BaseModel):
    region: str
    prices_taken_on: date
    requests: int
    duration_s: float
    lines: list[CostLine]
    total_usd: float
    assumptions: list[str]

    def line(self, item_prefix: str) -> CostLine:
        return next(line for line in self.lines if line.item.startswith(item_prefix))


def _ceil(value: float) -> int:
    # Float noise must not add a whole unit: 0.3 * 10 is 3.0000000000000004.
    return math.ceil(round(value, 9))


def _authorizer_invocations(eligible: int, duration_s: float, config: CostConfig) -> int:
    if config.authorizer_cache_ttl_s == 0 or eligible == 0:
        return eligible
    assumed = eligible * (1 - config.authorizer_cache_hit_ratio)
    ideal = min(eligible, config.tenants * _ceil(duration_s / config.authorizer_cache_ttl_s))
    return _ceil(max(assumed, ideal))


def measured_duration(hop: Any) -> tuple[float, str] | None:
    """(milliseconds, basis) of one hop of a report's ``per_hop``, or None when not measured.

    The mean is what bills; Lambda's own REPORT duration ("runtime") is preferred to the
    handler's log. A p50 is used only when no mean is given, and said so: it understates a
    skewed distribution.
    """
    if not isinstance(hop, dict) or hop.get("available") is False:
        return None
    sources = [hop.get("runtime"), hop.get("handler"), hop]
    for key, basis in (("mean_ms", "mean"), ("p50_ms", "p50, no mean in the report")):
        for source in sources:
            value = source.get(key) if isinstance(source, dict) else None
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                return float(value), basis
    return None


def _billed_durations(
    load: LoadReport, config: CostConfig, invocations: dict[str, int], notes: list[str]
) -> dict[str, float]:
    """Billed milliseconds per invocation, measured where the report has them."""
    measured, assumed = [], []
    out: dict[str, float] = {}
    for name in FUNCTIONS:
        found = measured_duration(load.per_hop.get(name))
        if found is not None:
            out[name] = found[0]
            measured.append(f"{name} {found[0]:g} ms ({found[1]})")
            continue
        ms = config.duration_ms[name]
        if name == "worker":
            ms *= config.worker_messages_per_batch
        out[name] = ms
        if invocations[name]:
            assumed.append(f"{name} {ms:g} ms")
    if measured:
        where = f" on {load.target}" if load.target else ""
        notes.append(f"durations measured{where} (report per_hop): " + ", ".join(measured))
    if assumed:
        notes.append("durations assumed (warm, on AWS): " + ", ".join(assumed))
    return out


def estimate_cost(
    report: dict[str, Any] | LoadReport, prices: Prices, *, config: CostConfig | None = None
) -> CostEstimate:
    """Estimate what the run described by ``report`` cost on AWS at ``prices``."""
    config = config or CostConfig()
    load = parse_report(report)
    table = prices.prices
    notes: list[str] = []

    throttled = load.status_counts.get("429", 0)
    acks = load.acks if load.acks is not None else load.accepted
    ingest = load.requests - load.status_requests
    reached_lambda = max(0, load.requests - throttled)
    invocations = {
        "authorizer": _authorizer_invocations(reached_lambda, load.duration_s, config),
        "producer": max(acks, ingest - throttled),
        "worker": _ceil(load.accepted / config.worker_messages_per_batch),
        "status": load.status_requests,
    }
    durations = _billed_durations(load, config, invocations, notes)

    body = load.mean_body_bytes if load.mean_body_bytes is not None else float(config.body_bytes)
    claim_checks = body > config.claim_check_bytes
    if load.claim_checked is not None:
        claim_puts = claim_gets = load.claim_checked
    else:
        claim_puts, claim_gets = (acks, load.accepted) if claim_checks else (0, 0)
    message_bytes = CLAIM_CHECK_MESSAGE_BYTES if claim_checks else body
    message_bytes += config.message_attribute_bytes
    send_chunks = _ceil(message_bytes / SQS_CHUNK_BYTES)
    receive_chunks = _ceil(config.worker_messages_per_batch * message_bytes / SQS_CHUNK_BYTES)
    sqs_requests = acks * send_chunks + invocations["worker"] * receive_chunks + invocations["worker"]

    gb_seconds = sum(invocations[f] * math.ceil(durations[f]) / 1000 * config.memory_mb[f] / 1024 for f in FUNCTIONS)
    environments: dict[str, int] = {}
    for name in FUNCTIONS:
        if invocations[name] == 0:
            continue
        concurrency = invocations[name] / load.duration_s * durations[name] / 1000
        environments[name] = max(1, _ceil(concurrency))
    if "worker" in environments:
        environments["worker"] = min(environments["worker"], config.worker_max_concurrency)
    init_gb_seconds = sum(n * config.init_ms / 1000 * config.memory_mb[f] / 1024 for f, n in environments.items())

    writes = acks * config.producer_writes_per_event + load.accepted * config.worker_writes_per_event
    reads = load.status_requests * config.status_reads_per_request + load.accepted * config.worker_reads_per_event
    total_invocations = sum(invocations.values())
    log_gb = total_invocations * config.log_bytes_per_invocation / GIB
    gb_price = table.lambda_gb_second_arm64 if config.architecture == "arm64" else table.lambda_gb_second_x86_64

    def line(service: str, item: str, quantity: float, price: Price) -> CostLine:
        return CostLine(
            service=service,
            item=item,
            quantity=quantity,
            unit=price.unit,
            unit_usd=price.unit_usd,
            price=_price_text(price),
            usd=quantity * price.unit_usd,
        )

    split = ", ".join(f"{f} {invocations[f]:,}" for f in FUNCTIONS)
    started = ", ".join(f"{f} {n}" for f, n in environments.items()) or "none"
    lines = [
        line("API Gateway", "REST API requests", load.requests, table.apigateway_rest_request),
        line("Lambda", f"invocations ({split})", total_invocations, table.lambda_request),
        line("Lambda", f"duration ({config.architecture})", gb_seconds, gb_price),
        line("Lambda", f"INIT on cold start (environments: {started})", init_gb_seconds, gb_price),
        line("SQS FIFO", "send + receive + delete (64 KB chunks)", sqs_requests, table.sqs_fifo_request),
        line("DynamoDB", "on-demand writes", writes, table.dynamodb_write_request_unit),
        line("DynamoDB", "on-demand reads", reads, table.dynamodb_read_request_unit),
        line("S3", "claim-check PUT", claim_puts, table.s3_put_request),
        line("S3", "claim-check GET", claim_gets, table.s3_get_request),
        line("CloudWatch Logs", "log ingestion", log_gb, table.cloudwatch_logs_ingested_gb),
    ]

    notes += [
        "memory MB: " + ", ".join(f"{f} {config.memory_mb[f]}" for f in FUNCTIONS),
        (
            f"authorizer cache: TTL {config.authorizer_cache_ttl_s} s, {config.tenants} tenant(s), "
            f"assumed hit ratio {config.authorizer_cache_hit_ratio:g}"
        )
        if config.authorizer_cache_ttl_s
        else "authorizer cache disabled (TTL 0): one call per request",
        f"429 responses ({throttled:,}) stopped at API Gateway; every other ingest request is "
        "counted as a producer invocation (upper bound)",
        f"worker: {config.worker_messages_per_batch:g} message(s) per batch, at most "
        f"{config.worker_max_concurrency} concurrent",
        (
            f"body {body:,.0f} B ({'measured' if load.mean_body_bytes is not None else 'assumed'})"
            f" + {config.message_attribute_bytes} B attributes; claim check above "
            f"{config.claim_check_bytes:,} B; SQS bills 64 KB chunks"
        ),
        (
            f"DynamoDB: {config.producer_writes_per_event} WRU per 202 + {config.worker_writes_per_event} "
            f"WRU per distinct event (items < 1 KB), {config.status_reads_per_request} RRU per status read"
        ),
        worker_write_comparison(prices, config).describe(),
        f"202 responses {acks:,} for {load.accepted:,} distinct events (retries sent again, deduplicated)",
        (f"INIT {config.init_ms:g} ms per environment; logs {config.log_bytes_per_invocation} B per invocation"),
        f"{prices.region} list prices taken {prices.taken_on.isoformat()}; free tier ignored; "
        "first volume tier only; redeliveries, DLQ traffic, SSM/KMS reads and data transfer not counted",
    ]
    return CostEstimate(
        region=prices.region,
        prices_taken_on=prices.taken_on,
        requests=load.requests,
        duration_s=load.duration_s,
        lines=lines,
        total_usd=sum(item.usd for item in lines),
        assumptions=notes,
    )


class WorkerWriteComparison(BaseModel):
    """The worker's DynamoDB writes per processed event: one transaction now, five writes before."""

    write_units_before: int
    write_units_after: int
    usd_per_million_before: float
    usd_per_million_after: float

    def describe(self) -> str:
        return (
            f"worker DynamoDB writes per event: {self.write_units_after} WRU (one TransactWriteItems, "
            f"{WORKER_TRANSACTION_ITEMS} items x {TRANSACTION_WRITE_FACTOR}) vs {self.write_units_before} WRU "
            f"before (five single writes): ${self.usd_per_million_after:.3f} vs "
            f"${self.usd_per_million_before:.3f} per million events"
        )


def worker_write_comparison(prices: Prices, config: CostConfig | None = None) -> WorkerWriteComparison:
    config = config or CostConfig()
    unit = prices.prices.dynamodb_write_request_unit.unit_usd * 1_000_000
    return WorkerWriteComparison(
        write_units_before=PREVIOUS_WORKER_WRITE_UNITS_PER_EVENT,
        write_units_after=config.worker_writes_per_event,
        usd_per_million_before=PREVIOUS_WORKER_WRITE_UNITS_PER_EVENT * unit,
        usd_per_million_after=config.worker_writes_per_event * unit,
    )


def estimate_for_plan(
    rate_rps: float,
    duration_s: float,
    *,
    prices: Prices | None = None,
    config: CostConfig | None = None,
    body_bytes: int | None = None,
    status_polls_per_event: float = 0.0,
) -> CostEstimate:
    """What a load test at ``rate_rps`` for ``duration_s`` will cost, before running it.

    Plans assume every request is accepted (none throttled or refused): the most a plan can cost.
    """
    if rate_rps <= 0 or duration_s <= 0:
        raise HookstackError(f"a load plan needs a rate and a duration > 0 (got {rate_rps:g} rps for {duration_s:g} s)")
    if status_polls_per_event < 0:
        raise HookstackError("status polls per event cannot be negative")
    events = _ceil(rate_rps * duration_s)
    polls = _ceil(events * status_polls_per_event)
    report = LoadReport(
        requests=events + polls,
        accepted=events,
        status_counts={"202": events},
        achieved_rps=rate_rps,
        duration_s=duration_s,
        status_requests=polls,
        mean_body_bytes=body_bytes,
    )
    return estimate_cost(report, prices or load_prices(), config=config)


def format_usd(usd: float) -> str:
    # Load tests often cost cents: keep four decimals below a dollar so they stay visible.
    if usd == 0:
        return "$0.00"
    if usd < 1:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def _price_text(price: Price) -> str:
    per = {1: "", 1000: "1K ", 1_000_000: "1M "}.get(price.per, f"{price.per:,} ")
    whole, _, cents = f"{price.usd:.10f}".rstrip("0").partition(".")
    return f"${whole}.{cents.ljust(2, '0')} per {per}{price.unit}"


def require_cost_confirmation(
    target: str,
    rate_rps: float,
    duration_s: float,
    confirmed: bool,
    threshold_rps: float = DEFAULT_THRESHOLD_RPS,
    *,
    prices: Prices | None = None,
    config: CostConfig | None = None,
) -> None:
    """Refuse a load test on real AWS above ``threshold_rps`` unless its cost was acknowledged."""
    if target != "aws" or confirmed or rate_rps <= threshold_rps:
        return
    estimate = estimate_for_plan(rate_rps, duration_s, prices=prices, config=config)
    raise HookstackError(
        f"aws: {rate_rps:g} rps for {duration_s:g} s is estimated at {format_usd(estimate.total_usd)} "
        f"({estimate.region} list prices of {estimate.prices_taken_on.isoformat()}); above "
        f"{threshold_rps:g} rps pass {CONFIRM_FLAG} to run it"
    )
