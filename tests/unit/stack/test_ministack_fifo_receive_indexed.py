"""``sqs-fifo-receive-indexed`` against the functions it stands in for, on twin queues.

Equivalence: two FIFO queues (each with its DLQ and a ``maxReceiveCount``) get the same random
sequence of operations on a controlled clock: sends over a few groups, messages without a group
(as internal producers append them), receives of 1–10 with visibility 0/1/5/30 s (after the retention
and dead-letter sweeps, as ReceiveMessage does), DeleteMessageBatch with live, repeated, stale,
expired, made-up and non-string handles, ChangeMessageVisibility, DeleteMessage, PurgeQueue, a
message removed in place (MiniStack's own poller's filter path), deletes of MiniStack's own mapping
poller, and clock moves past visibility timeouts and the retention period. Queue ``a`` runs what hookstack ran before
(the per-group receive, MiniStack's sweeps, the expired-handle check around the one-pass delete);
queue ``b`` the indexed functions. Every answer (messages received, in order, with their fields;
delete answers; errors) and both queues and DLQs after every step must be identical.
"""

from __future__ import annotations

import copy
import json
import random
import time
import types
from typing import Any

import pytest
from ministack.services import sqs

from stack.embedded.ministack import patches
from stack.embedded.ministack.sqs_receive_patches import (
    FIFO_RECEIVE_INDEXED_PATCH,
    IndexedMessages,
    apply_fifo_receive_indexed_patch,
    indexed_collect_fifo,
    indexed_delete_message_batch,
    indexed_delete_messages_for_esm,
    indexed_dlq_sweep,
    indexed_expire_retained,
    staling_change_visibility,
)
from tests.unit.stack.ministack_sqs_driver import restored_sqs

FIELDS = (
    "id",
    "body",
    "group_id",
    "receipt_handle",
    "visible_at",
    "receive_count",
    "first_receive_at",
    "sent_at",
    "enqueued_at",
    "seq",
)


@pytest.fixture
def driver(monkeypatch):
    yield from restored_sqs(monkeypatch)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _view(m: dict) -> tuple:
    return tuple(m.get(f) for f in FIELDS)


class Side:
    """One queue, its DLQ, the functions that serve it and its own receipt-handle sequence."""

    def __init__(self, name: str, indexed: bool, retention: int, max_receives: int) -> None:
        dlq = sqs._act_create_queue({"QueueName": f"{name}-dlq.fifo", "Attributes": {"FifoQueue": "true"}}, "")
        self.dlq = sqs._get_q(dlq["QueueUrl"])
        attributes = {
            "FifoQueue": "true",
            "MessageRetentionPeriod": str(retention),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": self.dlq["attributes"]["QueueArn"], "maxReceiveCount": max_receives}
            ),
        }
        self.url = sqs._act_create_queue({"QueueName": f"{name}.fifo", "Attributes": attributes}, "")["QueueUrl"]
        self.q = sqs._get_q(self.url)
        self.uuids = 0
        per_group = patches.fifo_receive_per_group(sqs)
        delete = patches.expiring_delete_message_batch(sqs, patches.one_pass_delete_message_batch(sqs))
        self.collect: Any = per_group
        self.expire: Any = sqs._expire_retained
        self.sweep: Any = sqs._dlq_sweep
        self.delete_batch: Any = delete
        self.change_visibility: Any = sqs._act_change_visibility
        self.esm_delete: Any = sqs._delete_messages_for_esm
        if indexed:
            self.collect = indexed_collect_fifo(sqs, per_group)
            self.expire = indexed_expire_retained(sqs, sqs._expire_retained)
            self.sweep = indexed_dlq_sweep(sqs, sqs._dlq_sweep)
            self.delete_batch = indexed_delete_message_batch(sqs, delete)
            self.change_visibility = staling_change_visibility(sqs, sqs._act_change_visibility)
            self.esm_delete = indexed_delete_messages_for_esm(sqs, sqs._delete_messages_for_esm)

    def new_uuid(self) -> str:
        self.uuids += 1
        return f"u{self.uuids}"

    def state(self) -> tuple:
        return [_view(m) for m in self.q["messages"]], [_view(m) for m in self.dlq["messages"]]


def _outcome(call) -> Any:
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001  (the error is part of the answer compared)
        return ("error", type(exc).__name__, getattr(exc, "code", None), str(exc))
    if isinstance(result, list):
        return [_view(m) for m in result]
    return copy.deepcopy(result)


def _step(rng: random.Random, clock: Clock, handles: list[Any], seen_groups: int) -> tuple[str, dict]:
    kind = rng.choices(
        ["send", "internal", "receive", "delete", "visibility", "delete_one", "esm_delete", "tick", "purge", "remove"],
        weights=[30, 3, 30, 18, 4, 2, 3, 12, 0.5, 1],
    )[0]
    args: dict[str, Any] = {}
    if kind == "send":
        args = {"group": f"g{rng.randrange(seen_groups)}", "n": rng.randrange(10**9)}
    elif kind == "receive":
        args = {"max_n": rng.randrange(1, 11), "vis": rng.choice([0, 1, 5, 30, 30])}
    elif kind == "delete":
        picks: list[Any] = []
        for _ in range(rng.randrange(1, 11)):
            roll = rng.random()
            if handles and roll < 0.8:
                picks.append(rng.choice(handles[-40:]))
            elif roll < 0.9:
                picks.append(f"made-up-{rng.randrange(100)}")
            elif roll < 0.95:
                picks.append(rng.randrange(100))  # not a string
            else:
                picks.append(picks[-1] if picks else "")
        args = {"handles": picks}
    elif kind in ("visibility", "delete_one", "esm_delete"):
        args = {"handle": rng.choice(handles) if handles else "none", "timeout": rng.choice([0, 0, 2, 10])}
    elif kind == "tick":
        args = {"seconds": rng.choice([0.0, 0.5, 1.0, 2.0, 6.0, 31.0])}
    elif kind == "remove":
        args = {"at": rng.random()}
    return kind, args


def _apply(side: Side, kind: str, args: dict, clock: Clock) -> Any:
    url = side.url
    if kind == "send":
        data = {
            "QueueUrl": url,
            "MessageBody": f"b{args['n']}",
            "MessageGroupId": args["group"],
            "MessageDeduplicationId": f"d{args['n']}",
        }
        return _outcome(lambda: sqs._act_send_message(data, url))
    if kind == "internal":
        # As SNS fan-out builds one (no group id).
        message = {
            "id": side.new_uuid(),
            "body": "internal",
            "receipt_handle": None,
            "sent_at": clock.now,
            "visible_at": clock.now,
            "receive_count": 0,
        }
        side.q["messages"].append(message)
        return None
    if kind == "receive":

        def receive() -> list:
            side.expire(side.q)
            side.sweep(side.q)
            return side.collect(side.q, args["max_n"], args["vis"], time.time())

        return _outcome(receive)
    if kind == "delete":
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(args["handles"])]
        return _outcome(lambda: side.delete_batch({"QueueUrl": url, "Entries": entries}, url))
    if kind == "visibility":
        data = {"QueueUrl": url, "ReceiptHandle": args["handle"], "VisibilityTimeout": args["timeout"]}
        return _outcome(lambda: side.change_visibility(data, url))
    if kind == "delete_one":
        return _outcome(lambda: sqs._act_delete_message({"QueueUrl": url, "ReceiptHandle": args["handle"]}, url))
    if kind == "esm_delete":
        return _outcome(lambda: side.esm_delete(url, {args["handle"]}))
    if kind == "purge":
        return _outcome(lambda: sqs._act_purge_queue({"QueueUrl": url}, url))
    if kind == "remove":
        messages = side.q["messages"]
        if messages:
            messages.remove(messages[int(args["at"] * len(messages))])
        return None
    return None


@pytest.mark.parametrize("seed", range(12))
def test_indexed_receive_and_delete_match_the_functions_they_replace(driver, monkeypatch, seed):
    rng = random.Random(seed)
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    retention, max_receives = rng.choice([(345600, 3), (60, 2), (90, 4)])
    sides = {
        "a": Side(f"a{seed}", False, retention, max_receives),
        "b": Side(f"b{seed}", True, retention, max_receives),
    }
    groups = rng.choice([1, 3, 8])
    handles: list[Any] = []
    for step in range(500):
        kind, args = _step(rng, clock, handles, groups)
        if kind == "tick":
            clock.now += args["seconds"]
            continue
        answers = {}
        for name, side in sides.items():
            monkeypatch.setattr(sqs, "new_uuid", side.new_uuid)
            answers[name] = _apply(side, kind, args, clock)
        assert answers["a"] == answers["b"], f"step {step}: {kind} {args}"
        assert sides["a"].state() == sides["b"].state(), f"step {step}: {kind} {args}"
        if kind == "receive" and isinstance(answers["a"], list):
            handles += [view[FIELDS.index("receipt_handle")] for view in answers["a"]]
        clock.now += rng.choice([0.0, 0.001, 0.2])
    assert type(sides["b"].q["messages"]) is IndexedMessages or not sides["b"].q["messages"]


def test_a_copy_of_an_indexed_queue_is_a_plain_list(driver):
    url = sqs._act_create_queue({"QueueName": "c.fifo", "Attributes": {"FifoQueue": "true"}}, "")["QueueUrl"]
    sqs._act_send_message(
        {"QueueUrl": url, "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d"}, url
    )
    q = sqs._get_q(url)
    indexed_collect_fifo(sqs, patches.fifo_receive_per_group(sqs))(q, 10, 30, time.time())
    assert type(q["messages"]) is IndexedMessages
    for duplicate in (copy.deepcopy(q["messages"]), copy.copy(q["messages"])):
        assert type(duplicate) is list and duplicate == list(q["messages"])
    assert json.loads(json.dumps(q["messages"], default=str))[0]["body"] == "x"


def _earlier_patches() -> None:
    for apply in (
        patches.apply_delete_batch_patch,
        patches.apply_fifo_receive_patch,
        patches.apply_expired_receipt_patch,
    ):
        assert apply(sqs, patches.PINNED_MINISTACK_VERSION).applied


def test_patch_builds_on_the_earlier_patches_and_is_dispatched(driver, monkeypatch):
    refused = apply_fifo_receive_indexed_patch(sqs, patches.PINNED_MINISTACK_VERSION)
    assert not refused.applied and patches.FIFO_RECEIVE_PATCH in refused.detail
    _earlier_patches()
    outcome = apply_fifo_receive_indexed_patch(sqs, patches.PINNED_MINISTACK_VERSION)
    assert outcome.applied, outcome.detail
    for function in (sqs._collect_fifo, sqs._expire_retained, sqs._dlq_sweep, sqs._delete_messages_for_esm):
        assert function.hookstack_patch == FIFO_RECEIVE_INDEXED_PATCH
    for action in ("DeleteMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"):
        assert sqs._HANDLERS[action].hookstack_patch == FIFO_RECEIVE_INDEXED_PATCH
    assert apply_fifo_receive_indexed_patch(sqs, patches.PINNED_MINISTACK_VERSION).detail == "already in place"


def test_other_releases_and_changed_sources_are_refused(driver):
    _earlier_patches()
    assert not apply_fifo_receive_indexed_patch(sqs, "1.5.34").applied
    fake = types.SimpleNamespace(**{name: getattr(sqs, name) for name in dir(sqs) if not name.startswith("__")})
    fake.__name__ = "ministack.services.sqs"

    def _dlq_sweep(q):  # another source
        return None

    fake._dlq_sweep = _dlq_sweep
    outcome = apply_fifo_receive_indexed_patch(fake, patches.PINNED_MINISTACK_VERSION)  # type: ignore[arg-type]
    assert not outcome.applied and "_dlq_sweep" in outcome.detail
