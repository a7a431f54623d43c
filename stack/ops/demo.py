"""The demo's short signed Shopify burst: fire, then follow every acknowledged event to its end.

Bounded in count and time. The serious load generator is Locust (``hookstack load``); this is the
smallest thing that proves the whole path works and shows its figures.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from handlers.stores.status_store import TERMINAL_STATUSES, Status
from stack.clients.events import read_status_items, wait_until_terminal
from stack.clients.providers import Delivery
from stack.clients.providers.shopify import SHOPIFY_TOPICS, shopify_delivery
from stack.clients.token_placement import TokenPlacement
from stack.clients.webhook_client import ApiClient
from stack.deploy.outputs import StackOutputs
from stack.embedded.gateway.process import read_stats
from stack.percentiles import percentile

# A body with none of the fields an order needs: accepted (202), then dead-lettered by the worker.
POISON_BODY = b'{"note": "deliberately schema-invalid: an order without id or line items"}'


@dataclass(frozen=True)
class Ack:
    delivery: Delivery
    status: int
    latency_ms: float
    event_id: str | None
    error: str | None = None


@dataclass
class Outcomes:
    statuses: dict[str, str] = field(default_factory=dict)
    e2e_ms: list[float] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)
    drain_seconds: float = 0.0
    timed_out: bool = False

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses.values() if s == status)


def _ms(values: list[float], pct: float) -> float:
    """The exact nearest-rank percentile, rounded for the summary; NaN when nothing was measured."""
    value = percentile(values, pct)
    return round(value, 1) if value is not None else float("nan")


def plan_deliveries(secret: str, events: int, shops: int, poison: int, seed: int = 7) -> list[Delivery]:
    rng = random.Random(seed)
    topics = [t for t in SHOPIFY_TOPICS if t != "app/uninstalled"]  # keep the shops installed
    deliveries = []
    for n in range(events):
        shop = f"shop-{n % shops:03d}.myshopify.com"
        if n < poison:
            deliveries.append(shopify_delivery("orders/create", secret, shop=shop, rng=rng, body=POISON_BODY))
        else:
            deliveries.append(
                shopify_delivery(rng.choice(topics), secret, shop=shop, rng=rng, extra_fields=rng.random() < 0.2)
            )
    rng.shuffle(deliveries)
    return deliveries


def fire(
    api_url: str,
    token: str,
    deliveries: list[Delivery],
    threads: int,
    time_budget_s: float = 60.0,
    on_ack=lambda ack: None,
    placement: TokenPlacement = TokenPlacement(),
) -> list[Ack]:
    """Send every delivery once over ``threads`` keep-alive connections, within the time budget."""
    deadline = time.monotonic() + time_budget_s
    chunks = [deliveries[i::threads] for i in range(threads)]

    def run(chunk: list[Delivery]) -> list[Ack]:
        client = ApiClient(api_url, token, placement)
        acks = []
        try:
            for delivery in chunk:
                if time.monotonic() > deadline:
                    break
                try:
                    response = client.post_webhook(delivery.provider, delivery.body, delivery.headers)
                except Exception as exc:  # noqa: BLE001 - a failed request is a result, not a crash of the burst
                    ack = Ack(delivery, 0, 0.0, None, str(exc))
                else:
                    ack = Ack(
                        delivery,
                        response.status,
                        response.latency_ms,
                        response.json().get("id") if response.status == 202 else None,
                        None if response.status == 202 else response.body[:200].decode(errors="replace"),
                    )
                acks.append(ack)
                on_ack(ack)
        finally:
            client.close()
        return acks

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [ack for acks in pool.map(run, chunks) for ack in acks]


def await_outcomes(
    outputs: StackOutputs, event_ids: list[str], timeout_s: float = 90.0, on_poll=lambda done, total: None
) -> Outcomes:
    """Poll the events table until every id is final or the timeout passes."""
    dynamodb = outputs.client("dynamodb")
    started = time.monotonic()
    progress = wait_until_terminal(
        lambda pending: read_status_items(dynamodb, outputs.events_table, pending).values(),
        event_ids,
        timeout_s=timeout_s,
        min_interval_s=0.5,
        on_poll=lambda p: on_poll(p.terminal, p.total),
    )
    outcomes = Outcomes(drain_seconds=time.monotonic() - started, timed_out=progress.timed_out)
    for event_id in event_ids:
        item = progress.items.get(event_id, {})
        status = item.get("status", "MISSING")
        outcomes.statuses[event_id] = status
        if status == Status.PROCESSED and "processed_at" in item and "received_at" in item:
            outcomes.e2e_ms.append(float(item["processed_at"]) - float(item["received_at"]))
        if status == Status.DEAD_LETTERED:
            outcomes.reasons[str(item.get("reason", "?"))[:80]] += 1
    return outcomes


def dlq_depth(outputs: StackOutputs) -> int:
    attrs = outputs.client("sqs").get_queue_attributes(
        QueueUrl=outputs.dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def cold_starts(outputs: StackOutputs) -> dict[str, dict]:
    """Cold starts per function from the hookstack data plane's stats (absent on other planes)."""
    if outputs.gateway != "hookstack":
        return {}
    try:
        stats = read_stats(outputs.api_url)
    except (OSError, ValueError):
        return {}
    names = {v: k for k, v in outputs.function_names.items()}
    return {
        names.get(name, name): {"cold_starts": f["cold_starts"], "init_ms_max": max(f["init_ms"], default=0.0)}
        for name, f in stats.get("functions", {}).items()
        if f.get("cold_starts")
    }


def summary(acks: list[Ack], outcomes: Outcomes, dlq: int, fire_seconds: float) -> dict:
    accepted = [a for a in acks if a.status == 202]
    latencies = [a.latency_ms for a in accepted]
    return {
        "requests": len(acks),
        "status_counts": dict(sorted(Counter(str(a.status) for a in acks).items())),
        "accepted": len(accepted),
        "achieved_rps": round(len(acks) / fire_seconds, 1) if fire_seconds else 0.0,
        "p50_ms": _ms(latencies, 50),
        "p95_ms": _ms(latencies, 95),
        "p99_ms": _ms(latencies, 99),
        "max_ms": round(max(latencies), 1) if latencies else float("nan"),
        "processed": outcomes.count(Status.PROCESSED),
        "dead_lettered": outcomes.count(Status.DEAD_LETTERED),
        "missing": sum(1 for s in outcomes.statuses.values() if s not in TERMINAL_STATUSES),
        "dead_letter_reasons": dict(outcomes.reasons),
        "dlq_depth": dlq,
        "e2e_p50_ms": _ms(outcomes.e2e_ms, 50),
        "e2e_p99_ms": _ms(outcomes.e2e_ms, 99),
        "drain_seconds": round(outcomes.drain_seconds, 2),
        "errors": [a.error for a in acks if a.error][:5],
    }


def warmup_summary(acks: list[Ack], outcomes: Outcomes) -> dict:
    """The deliveries that paid the cold starts: accounted for like the rest, timed apart."""
    accepted = [a for a in acks if a.status == 202]
    return {
        "requests": len(acks),
        "accepted": len(accepted),
        "max_ms": round(max((a.latency_ms for a in accepted), default=0.0), 1),
        "processed": outcomes.count(Status.PROCESSED),
        "missing": sum(1 for s in outcomes.statuses.values() if s not in TERMINAL_STATUSES),
    }


def summary_json(result: dict) -> str:
    return json.dumps(result, indent=2, default=str)
