"""The one-pass DeleteMessageBatch against MiniStack's own, and the guard around it.

Equivalence: random queues (FIFO and standard) are filled and partly received through MiniStack's
real action functions; then random DeleteMessageBatch requests — live receipt handles, repeated
ones, stale and made-up ones, non-string ones, invalid batches — run once through MiniStack's
function and once through hookstack's on deep copies of the same queue. Responses (or errors)
and the queue's messages afterwards must be identical.
"""

from __future__ import annotations

import asyncio
import copy
import random
import types

import pytest
from ministack.services import sqs

from stack.embedded.ministack.patches import (
    DELETE_BATCH_PATCH,
    PINNED_MINISTACK_VERSION,
    apply_delete_batch_patch,
    one_pass_delete_message_batch,
)

UPSTREAM = sqs._act_delete_message_batch
PATCHED = one_pass_delete_message_batch(sqs)


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch):
    if getattr(UPSTREAM, "hookstack_patch", None):
        pytest.fail("ministack.services.sqs was patched before these tests imported it")
    monkeypatch.setitem(sqs._HANDLERS, "DeleteMessageBatch", UPSTREAM)
    monkeypatch.setattr(sqs, "_act_delete_message_batch", UPSTREAM)
    sqs.reset()
    yield
    sqs.reset()


def _filled_queue(rng: random.Random, fifo: bool) -> tuple[str, list[str]]:
    name = f"q{rng.randrange(10**6)}" + (".fifo" if fifo else "")
    url = sqs._act_create_queue({"QueueName": name, "Attributes": {"FifoQueue": "true"} if fifo else {}}, "")[
        "QueueUrl"
    ]
    for i in range(rng.randrange(5, 60)):
        params = {"QueueUrl": url, "MessageBody": f"m{i}"}
        if fifo:
            params |= {"MessageGroupId": f"g{rng.randrange(6)}", "MessageDeduplicationId": f"d{i}"}
        sqs._act_send_message(params, url)
    handles: list[str] = []
    for _ in range(rng.randrange(1, 8)):
        received = asyncio.run(
            sqs._act_receive_message(
                {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0, "VisibilityTimeout": 0}, url
            )
        )
        handles += [m["ReceiptHandle"] for m in received.get("Messages", [])]
    return url, handles


def _random_request(rng: random.Random, url: str, handles: list[str]) -> dict:
    size = rng.choice([0, 1, 2, 5, 10, 10, 11]) if rng.random() < 0.15 else rng.randrange(1, 11)
    entries = []
    for i in range(size):
        roll = rng.random()
        if roll < 0.55 and handles:
            handle: object = rng.choice(handles)  # live now, or already deleted by an earlier request
        elif roll < 0.7 and entries:
            handle = rng.choice(entries).get("ReceiptHandle", "")  # repeated within the batch
        elif roll < 0.85:
            handle = f"made-up-{rng.randrange(1000)}"
        elif roll < 0.9:
            handle = ""
        else:
            handle = rng.choice([None, 7, ["x"]])
        entry: dict = {"Id": f"e{i}" if rng.random() > 0.05 else "bad id!", "ReceiptHandle": handle}
        if rng.random() < 0.03:
            del entry["ReceiptHandle"]
        entries.append(entry)
    if rng.random() < 0.05 and entries:
        entries[-1]["Id"] = entries[0]["Id"]  # a repeated entry id
    return {"QueueUrl": url, "Entries": entries}


def _call(action, request: dict, url: str):
    try:
        return ("ok", action(copy.deepcopy(request), url))
    except Exception as exc:  # noqa: BLE001  (the error itself is what is compared)
        return ("error", type(exc).__name__, str(exc))


@pytest.mark.parametrize("seed", range(8))
def test_one_pass_delete_matches_ministack_on_random_batches(seed):
    rng = random.Random(seed)
    for fifo in (True, False):
        url, handles = _filled_queue(rng, fifo)
        for _ in range(40):
            request = _random_request(rng, url, handles)
            before = copy.deepcopy(sqs._queues[url])
            upstream = _call(UPSTREAM, request, url)
            after_upstream = sqs._queues[url]["messages"]
            sqs._queues[url] = copy.deepcopy(before)
            ours = _call(PATCHED, request, url)
            assert ours == upstream, request
            assert sqs._queues[url]["messages"] == after_upstream
        assert len(sqs._queues[url]["messages"]) < 60


def test_a_repeated_handle_deletes_once_and_fails_the_repeat():
    url, handles = _filled_queue(random.Random(1), fifo=True)
    entries = [{"Id": "a", "ReceiptHandle": handles[-1]}, {"Id": "b", "ReceiptHandle": handles[-1]}]  # the latest: live
    answer = PATCHED({"QueueUrl": url, "Entries": entries}, url)
    assert answer["Successful"] == [{"Id": "a"}]
    assert [f["Id"] for f in answer["Failed"]] == ["b"] and answer["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"


def test_patch_applies_to_the_pinned_release_and_is_dispatched(monkeypatch):
    outcome = apply_delete_batch_patch(sqs, PINNED_MINISTACK_VERSION)
    assert outcome.applied, outcome.detail
    assert sqs._HANDLERS["DeleteMessageBatch"] is sqs._act_delete_message_batch
    assert sqs._act_delete_message_batch.hookstack_patch == DELETE_BATCH_PATCH
    assert apply_delete_batch_patch(sqs, PINNED_MINISTACK_VERSION).detail == "already in place"


def test_other_releases_and_changed_source_are_refused():
    assert not apply_delete_batch_patch(sqs, "1.5.34").applied
    fake = types.ModuleType("ministack.services.sqs")

    def _act_delete_message_batch(data: dict, qurl: str) -> dict:  # not the source the patch was checked against
        return {}

    fake._act_delete_message_batch = _act_delete_message_batch
    fake._HANDLERS = {"DeleteMessageBatch": _act_delete_message_batch}
    outcome = apply_delete_batch_patch(fake, PINNED_MINISTACK_VERSION)
    assert not outcome.applied and "is not the source" in outcome.detail
    assert sqs._act_delete_message_batch is UPSTREAM
