"""The known set of events a drill sends: planned per message group, sent in order per group,
every answer recorded in a ledger (what the reconciler later checks against).

Ordering: each group is sent by one sender that waits for every answer before the next delivery,
so the order in which a group's deliveries were acknowledged (202) is the order in which the
producer queued them: that is the reference order the reconciler holds processing to.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from handlers.contract.message import event_id as contract_event_id
from handlers.contract.message import message_group_id, to_sqs_attributes
from stack.clients import providers as client_providers
from stack.clients.providers import Delivery
from stack.clients.token_placement import TokenPlacement
from stack.clients.webhook_client import ApiClient

TENANT = "demo"
Outcome = Literal["processed", "dead_lettered", "processed_or_dead_lettered"]


@dataclass(frozen=True)
class Expectation:
    """The correct outcome of one event under the drill's faults.

    ``reasons``: regular expressions (case-insensitive); a dead-letter reason must match one."""

    outcome: Outcome = "processed"
    reasons: tuple[str, ...] = ()
    label: str = "baseline"

    def allows_dead_letter(self) -> bool:
        return self.outcome in ("dead_lettered", "processed_or_dead_lettered")

    def allows_processed(self) -> bool:
        return self.outcome in ("processed", "processed_or_dead_lettered")


PROCESSED = Expectation()


@dataclass(frozen=True)
class PlannedEvent:
    """One event of the drill: its delivery, group, expected outcome and, when the fix is a
    corrected payload, the body to replay it with."""

    key: str
    delivery: Delivery
    group_key: str
    expectation: Expectation = PROCESSED
    fixed_body: bytes | None = None

    @property
    def event_id(self) -> str:
        return contract_event_id(TENANT, self.delivery.provider, self.delivery.delivery_id)

    @property
    def group(self) -> str:
        return message_group_id(TENANT, self.group_key)


@dataclass(frozen=True)
class Answer:
    """One HTTP delivery and its answer."""

    key: str
    event_id: str
    status: int
    seq: int  # global order of answers
    at: float  # epoch seconds
    latency_ms: float
    error: str | None = None


@dataclass
class Ledger:
    """Every planned event and every answer: the drill's own record of what it sent."""

    planned: dict[str, PlannedEvent] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    reinjected: list[str] = field(default_factory=list)  # event ids sent straight to the queue
    _seq: Any = field(default_factory=itertools.count, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def plan(self, events: Iterable[PlannedEvent]) -> None:
        for event in events:
            if event.key in self.planned:
                raise ValueError(f"duplicate planned key {event.key}")
            self.planned[event.key] = event

    def record(self, key: str, status: int, latency_ms: float, error: str | None = None) -> Answer:
        with self._lock:
            answer = Answer(key, self.planned[key].event_id, status, next(self._seq), time.time(), latency_ms, error)
            self.answers.append(answer)
        return answer

    def first_ack(self) -> dict[str, Answer]:
        """Event id → its first 202."""
        acks: dict[str, Answer] = {}
        for answer in sorted(self.answers, key=lambda a: a.seq):
            if answer.status == 202 and answer.event_id not in acks:
                acks[answer.event_id] = answer
        return acks

    def acked_keys(self) -> set[str]:
        return {a.key for a in self.answers if a.status == 202}

    def unacked(self) -> list[PlannedEvent]:
        """Planned events that never got a 202 (a provider would retry them)."""
        acked = self.acked_keys()
        return [p for k, p in self.planned.items() if k not in acked]

    def by_event_id(self) -> dict[str, PlannedEvent]:
        return {p.event_id: p for p in self.planned.values()}


# --- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupSpec:
    provider: str
    key: str  # the provider's ordering key: shop domain / Stripe account / repository / …


def drill_cycle(providers: tuple[str, ...] = client_providers.PROVIDERS) -> tuple[str, ...]:
    """The providers of successive groups: every other group is the first provider's (the one with
    the most drift cases), the others take turns in between. With four groups: shopify, stripe,
    shopify, github; every provider has a group from ``2 × (providers - 1)`` groups on."""
    primary, *others = providers
    return tuple(provider for other in others for provider in (primary, other)) or (primary,)


def group_specs(run_id: str, groups: int) -> list[GroupSpec]:
    """Several message groups over the providers, each keyed as its provider names ordering keys."""
    cycle = drill_cycle()
    specs = []
    for index in range(groups):
        provider = cycle[index % len(cycle)]
        specs.append(GroupSpec(provider, client_providers.get(provider).group_key(f"chaos-{run_id}-{index}")))
    return specs


# Topics a drill's valid traffic uses, where not all of a provider's: no products/create and no
# app/uninstalled for Shopify (the shops stay installed).
DRILL_TOPICS: dict[str, tuple[str, ...]] = {
    "shopify": ("orders/create", "orders/updated", "orders/paid", "products/update", "customers/create"),
}


def baseline_delivery(
    spec: GroupSpec, secrets: dict[str, str], rng: random.Random, topic: str | None = None, body: dict | None = None
) -> Delivery:
    """A valid signed delivery for the group (unique delivery id from ``rng``)."""
    sender = client_providers.get(spec.provider)
    if not topic:
        topics = DRILL_TOPICS.get(spec.provider, sender.topics)
        topic = topics[0] if len(topics) == 1 else rng.choice(topics)
    return sender.delivery(topic, secrets[spec.provider], group_key=spec.key, rng=rng, body=body)


def plan_baseline(
    run_id: str,
    secrets: dict[str, str],
    *,
    events: int,
    groups: int,
    seed: int | str,
    expectation: Callable[[GroupSpec, int], Expectation] = lambda spec, i: PROCESSED,
    prefix: str = "e",
) -> list[PlannedEvent]:
    """``events`` valid events spread round-robin over ``groups`` groups."""
    rng = random.Random(seed)
    specs = group_specs(run_id, groups)
    planned = []
    for index in range(events):
        spec = specs[index % len(specs)]
        planned.append(
            PlannedEvent(
                f"{prefix}{index:03d}", baseline_delivery(spec, secrets, rng), spec.key, expectation(spec, index)
            )
        )
    return planned


# --- sending -------------------------------------------------------------------------------------


class Sender:
    """Sends planned events over keep-alive connections: one sender per group, in order."""

    def __init__(
        self,
        api_url: str,
        token: str,
        placement: TokenPlacement,
        ledger: Ledger,
        *,
        max_threads: int = 6,
        time_budget_s: float = 60.0,
    ):
        self._api_url = api_url
        self._token = token
        self._placement = placement
        self._ledger = ledger
        self._max_threads = max_threads
        self._time_budget_s = time_budget_s

    def _send_group(
        self, events: list[PlannedEvent], deadline: float, on_answer: Callable[[Answer], None]
    ) -> list[Answer]:
        client = ApiClient(self._api_url, self._token, self._placement, timeout=35)
        answers = []
        try:
            for event in events:
                if time.monotonic() > deadline:
                    break
                delivery = event.delivery
                try:
                    response = client.post_webhook(delivery.provider, delivery.body, delivery.headers)
                except Exception as error:  # noqa: BLE001 - a failed request is an answer too (status 0)
                    answer = self._ledger.record(event.key, 0, 0.0, str(error)[:200])
                else:
                    refusal = None if response.status == 202 else response.body[:200].decode(errors="replace")
                    answer = self._ledger.record(event.key, response.status, response.latency_ms, refusal)
                    if response.status == 202 and response.json().get("id") != event.event_id:
                        raise AssertionError(
                            f"{event.key}: the stack answered id {response.json().get('id')}, "
                            f"the contract gives {event.event_id}"
                        )
                answers.append(answer)
                on_answer(answer)
        finally:
            client.close()
        return answers

    def send(
        self, events: Iterable[PlannedEvent], on_answer: Callable[[Answer], None] = lambda a: None
    ) -> list[Answer]:
        """Send every event once; groups in parallel, each group strictly in the given order."""
        by_group: dict[str, list[PlannedEvent]] = {}
        for event in events:
            by_group.setdefault(event.group, []).append(event)
        if not by_group:
            return []
        deadline = time.monotonic() + self._time_budget_s
        with ThreadPoolExecutor(max_workers=min(self._max_threads, len(by_group))) as pool:
            futures = [pool.submit(self._send_group, group, deadline, on_answer) for group in by_group.values()]
            return [answer for future in futures for answer in future.result()]


def reinject(sqs: Any, queue_url: str, event: PlannedEvent, *, received_at_ms: int | None = None) -> str:
    """Put a copy of an event straight on the queue with a fresh deduplication id: what a provider
    retry looks like once SQS's 5-minute deduplication window has passed."""
    delivery = event.delivery
    attributes = {
        "event_id": event.event_id,
        "tenant": TENANT,
        "provider": delivery.provider,
        "topic": delivery.topic,
        "delivery_id": delivery.delivery_id,
        "received_at": str(received_at_ms or int(time.time() * 1000)),
    }
    dedup = hashlib.sha256(f"late-retry\n{event.event_id}\n{uuid.uuid4()}".encode()).hexdigest()
    response = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=delivery.body.decode("utf-8"),
        MessageGroupId=event.group,
        MessageDeduplicationId=dedup,
        MessageAttributes=to_sqs_attributes(attributes),
    )
    return response["MessageId"]
