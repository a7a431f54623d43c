"""The incremental dedup prune against MiniStack's own, and the guard around it.

The equivalence tests drive MiniStack's real SQS action functions in-process (no
server): the same randomized sequence of sends, batch sends, clock moves (including
backwards), purges, queue re-creation and a persistence round trip runs once with
MiniStack's ``_prune_dedup`` and once with hookstack's, on a fake clock and fake
message ids, and every response and the dedup cache after every step must match.
"""

from __future__ import annotations

import copy
import itertools
import json
import pickle
import random
import sys
import time
import types

import pytest
from ministack.core import persistence
from ministack.services import sqs

from stack.embedded.ministack import patches as ministack_patches
from stack.embedded.ministack import server as ministack_server
from stack.embedded.ministack.patches import (
    DEDUP_PRUNE_PATCH,
    PINNED_MINISTACK_VERSION,
    ExpiryIndexedDedupCache,
    PatchOutcome,
    apply_dedup_prune_patch,
    dedup_patch_refusal,
    incremental_prune_dedup,
)

MINISTACK_PRUNE = sqs._prune_dedup
WINDOW = sqs._DEDUP_WINDOW_S


@pytest.fixture(autouse=True)
def _upstream_prune_and_clean_state(monkeypatch):
    if MINISTACK_PRUNE is incremental_prune_dedup:
        pytest.fail("ministack.services.sqs was patched before these tests imported it")
    monkeypatch.setattr(sqs, "_prune_dedup", MINISTACK_PRUNE)
    sqs.reset()
    yield
    sqs.reset()


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


# ── randomized equivalence through MiniStack's action functions ─────────────

QUEUES = {
    "orders.fifo": {"FifoQueue": "true"},
    "scoped.fifo": {"FifoQueue": "true", "DeduplicationScope": "messageGroup"},
    "content.fifo": {"FifoQueue": "true", "ContentBasedDeduplication": "true"},
}
DEDUP_IDS = [f"d{i}" for i in range(6)]
GROUPS = ["g1", "g2"]


def _random_ops(rng: random.Random, count: int) -> list[tuple]:
    ops: list[tuple] = []
    for _ in range(count):
        kind = rng.choices(
            ["send", "batch", "tick", "jump", "to_boundary", "back", "purge", "recreate", "persist"],
            weights=[40, 8, 20, 4, 10, 4, 3, 2, 2],
        )[0]
        queue = rng.choice(list(QUEUES))
        if kind == "send":
            ops.append(("send", queue, rng.choice(DEDUP_IDS), rng.choice(GROUPS), rng.choice(["a", "b"])))
        elif kind == "batch":
            entries = [
                (rng.choice(DEDUP_IDS), rng.choice(GROUPS), rng.choice(["a", "b"])) for _ in range(rng.randint(1, 10))
            ]
            ops.append(("batch", queue, entries))
        elif kind == "tick":
            ops.append(("advance", rng.uniform(0, 20)))
        elif kind == "jump":
            ops.append(("advance", rng.uniform(WINDOW / 4, WINDOW * 1.2)))
        elif kind == "to_boundary":
            # Land exactly on, or just around, some entry's expiry (resolved at run time).
            ops.append(("to_boundary", queue, rng.random(), rng.choice([-1e-6, 0.0, 1e-6])))
        elif kind == "back":
            ops.append(("advance", -rng.uniform(0, 40)))  # wall clock stepped back
        else:
            ops.append((kind, queue))
    return ops


def _run(ops: list[tuple], prune, monkeypatch) -> list:
    """Play ops against MiniStack with the given prune; return everything observable."""
    monkeypatch.setattr(sqs, "_prune_dedup", prune)
    clock = FakeClock()
    monkeypatch.setattr(time, "time", clock)
    ids = itertools.count()
    monkeypatch.setattr(sqs, "new_uuid", lambda: f"m{next(ids)}")
    sqs.reset()
    urls = {
        name: sqs._act_create_queue({"QueueName": name, "Attributes": attrs}, "")["QueueUrl"]
        for name, attrs in QUEUES.items()
    }

    def send_params(queue: str, dedup_id: str, group: str, body: str) -> dict:
        params = {"QueueUrl": urls[queue], "MessageBody": f"{body}-{dedup_id}", "MessageGroupId": group}
        if queue != "content.fifo":
            params["MessageDeduplicationId"] = dedup_id
        return params

    observed: list = []
    for op in ops:
        kind = op[0]
        if kind == "send":
            _, queue, dedup_id, group, body = op
            result = sqs._act_send_message(send_params(queue, dedup_id, group, body), urls[queue])
        elif kind == "batch":
            _, queue, entries = op
            result = sqs._act_send_message_batch(
                {
                    "QueueUrl": urls[queue],
                    "Entries": [{"Id": f"e{i}", **send_params(queue, *entry)} for i, entry in enumerate(entries)],
                },
                urls[queue],
            )
        elif kind == "advance":
            clock.now += op[1]
            result = None
        elif kind == "to_boundary":
            _, queue, pick, offset = op
            expiries = sorted(e["expire"] for e in sqs._queues[urls[queue]]["dedup_cache"].values())
            if expiries:
                clock.now = max(clock.now, expiries[int(pick * len(expiries))] + offset)
            result = None
        elif kind == "purge":
            result = sqs._act_purge_queue({"QueueUrl": urls[op[1]]}, urls[op[1]])
        elif kind == "recreate":
            sqs._act_delete_queue({"QueueUrl": urls[op[1]]}, urls[op[1]])
            urls[op[1]] = sqs._act_create_queue({"QueueName": op[1], "Attributes": QUEUES[op[1]]}, "")["QueueUrl"]
            result = None
        elif kind == "persist":
            # What MiniStack writes at shutdown and reads at the next start.
            text = json.dumps(sqs.get_state(), default=persistence._json_default)
            sqs.reset()
            sqs.load_persisted_state(json.loads(text, object_hook=persistence._json_object_hook))
            result = None
        else:
            raise AssertionError(op)
        caches = {name: list(sqs._queues[url]["dedup_cache"].items()) for name, url in urls.items()}
        observed.append((op, result, caches))
    messages = {
        name: [(m["id"], m["dedup_id"], m["seq"]) for m in sqs._queues[url]["messages"]] for name, url in urls.items()
    }
    observed.append(("messages", messages))
    return observed


@pytest.mark.parametrize("seed", range(40))
def test_incremental_prune_matches_ministack_on_random_sequences(seed, monkeypatch):
    ops = _random_ops(random.Random(seed), 300)
    upstream = _run(ops, MINISTACK_PRUNE, monkeypatch)
    patched = _run(ops, incremental_prune_dedup, monkeypatch)
    for step, (want, got) in enumerate(zip(upstream, patched, strict=True)):
        assert got == want, f"seed {seed}, step {step}: {want[0]}"
    # The sequences must actually exercise dedup hits, expiries and re-sent ids.
    results = [r for _, r, _ in upstream[:-1] if r and "MessageId" in r]
    assert len({r["MessageId"] for r in results}) < len(results)


def test_dedup_hit_expiry_and_resend_through_send_message(monkeypatch):
    monkeypatch.setattr(sqs, "_prune_dedup", incremental_prune_dedup)
    clock = FakeClock()
    monkeypatch.setattr(time, "time", clock)
    url = sqs._act_create_queue({"QueueName": "q.fifo"}, "")["QueueUrl"]
    params = {"QueueUrl": url, "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "same"}
    first = sqs._act_send_message(dict(params), url)
    clock.now += WINDOW - 0.001
    assert sqs._act_send_message(dict(params), url)["MessageId"] == first["MessageId"]
    clock.now += 0.001  # exactly at `expire`: MiniStack keeps only expire > now
    resent = sqs._act_send_message(dict(params), url)
    assert resent["MessageId"] != first["MessageId"]
    assert type(sqs._queues[url]["dedup_cache"]) is ExpiryIndexedDedupCache
    assert len(sqs._queues[url]["messages"]) == 2


# ── the cache itself ─────────────────────────────────────────────────────────


def _entry(expire: float, tag: str = "") -> dict:
    return {"expire": expire, "id": tag or f"id-{expire}"}


def test_out_of_order_inserts_expire_by_their_own_time():
    cache = ExpiryIndexedDedupCache()
    cache["late"] = _entry(100.0)
    cache["early"] = _entry(50.0)  # inserted after, expires before (clock step, other thread)
    cache.drop_expired(60.0)
    assert list(cache) == ["late"]
    cache.drop_expired(100.0)
    assert dict(cache) == {}


def test_stale_heap_item_does_not_remove_a_resent_key():
    cache = ExpiryIndexedDedupCache()
    cache["k"] = _entry(10.0, "first")
    cache.drop_expired(10.0)
    assert "k" not in cache
    cache["k"] = _entry(40.0, "second")
    cache.pop("k")
    cache["k"] = _entry(60.0, "third")
    cache.drop_expired(50.0)  # the "second" item is due; it must not take "third" with it
    assert cache["k"]["id"] == "third"
    cache.drop_expired(60.0)
    assert "k" not in cache
    assert cache._expiry_heap == []


def test_entries_added_through_any_dict_method_are_indexed():
    cache = ExpiryIndexedDedupCache({"a": _entry(1.0)})
    cache.update({"b": _entry(2.0)}, c=_entry(3.0))
    cache.setdefault("d", _entry(4.0))
    cache |= {"e": _entry(5.0)}
    cache.drop_expired(5.0)
    assert dict(cache) == {}


def test_plain_dict_cache_is_indexed_in_insertion_order(monkeypatch):
    # A queue restored from disk or created by CloudFormation starts with a plain dict.
    rng = random.Random(7)
    plain = {f"k{i}": _entry(rng.uniform(0, 100)) for i in range(200)}
    upstream_q = {"dedup_cache": dict(plain)}
    patched_q = {"dedup_cache": dict(plain)}
    for now in (0.0, 10.0, 10.0, 55.5, 99.0, 120.0):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        MINISTACK_PRUNE(upstream_q)
        incremental_prune_dedup(patched_q)
        assert list(patched_q["dedup_cache"].items()) == list(upstream_q["dedup_cache"].items())


def test_copies_and_pickles_are_plain_dicts():
    cache = ExpiryIndexedDedupCache({"a": _entry(1.0), "b": _entry(2.0)})
    for clone in (copy.deepcopy(cache), copy.copy(cache), pickle.loads(pickle.dumps(cache))):
        assert type(clone) is dict
        assert clone == {"a": _entry(1.0), "b": _entry(2.0)}
    assert json.loads(json.dumps(cache)) == {"a": _entry(1.0), "b": _entry(2.0)}


# ── the guard ────────────────────────────────────────────────────────────────


def test_patch_applies_to_the_pinned_release_once(monkeypatch):
    outcome = apply_dedup_prune_patch(sqs, installed_version=PINNED_MINISTACK_VERSION)
    assert outcome == PatchOutcome(DEDUP_PRUNE_PATCH, True, outcome.detail)
    assert sqs._prune_dedup is incremental_prune_dedup
    assert apply_dedup_prune_patch(sqs, installed_version="0.0.1").detail == "already in place"


def test_installed_release_is_the_pinned_one():
    # The pin in pyproject.toml and the patch's pin move together.
    assert ministack_patches.installed_ministack_version() == PINNED_MINISTACK_VERSION
    assert dedup_patch_refusal(sqs, PINNED_MINISTACK_VERSION) is None


@pytest.mark.parametrize("version", ["1.5.34", "1.5.32", None])
def test_other_release_is_refused_and_left_unpatched(version):
    outcome = apply_dedup_prune_patch(sqs, installed_version=version or "")
    assert not outcome.applied
    assert PINNED_MINISTACK_VERSION in outcome.detail
    assert "NOT applied" in outcome.describe()
    assert sqs._prune_dedup is MINISTACK_PRUNE


def _changed_prune_dedup(q: dict) -> None:
    now = time.time()
    q["dedup_cache"] = {k: v for k, v in q["dedup_cache"].items() if v["expire"] >= now}


def _module_like_sqs(**overrides) -> types.ModuleType:
    fake = types.ModuleType("fake_sqs")
    fake._prune_dedup = sqs._prune_dedup
    fake._act_send_message = sqs._act_send_message
    for name, value in overrides.items():
        if value is None:
            delattr(fake, name)
        else:
            setattr(fake, name, value)
    return fake


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"_prune_dedup": _changed_prune_dedup}, "_prune_dedup is not the source"),
        ({"_act_send_message": _changed_prune_dedup}, "_act_send_message is not the source"),
        ({"_prune_dedup": None}, "_prune_dedup is missing"),
        ({"_prune_dedup": len}, "_prune_dedup is missing or not a function"),
    ],
)
def test_changed_source_is_refused(overrides, reason):
    fake = _module_like_sqs(**overrides)
    before = getattr(fake, "_prune_dedup", None)
    outcome = apply_dedup_prune_patch(fake, installed_version=PINNED_MINISTACK_VERSION)
    assert not outcome.applied
    assert reason in outcome.detail
    assert getattr(fake, "_prune_dedup", None) is before


# ── the server entry (no server started) ─────────────────────────────────────


def _fake_ministack_app(monkeypatch) -> list:
    calls: list = []
    fake_app = types.ModuleType("ministack.app")
    fake_app.main = lambda: calls.append(list(sys.argv))
    monkeypatch.setitem(sys.modules, "ministack.app", fake_app)
    monkeypatch.setattr(sys, "argv", ["ministack_server"])
    return calls


def test_server_refuses_detach(monkeypatch):
    calls = _fake_ministack_app(monkeypatch)
    with pytest.raises(SystemExit) as stopped:
        ministack_server.main(["-d"])
    assert stopped.value.code == ministack_server.EXIT_DETACH_REFUSED
    assert calls == []
    assert sqs._prune_dedup is MINISTACK_PRUNE


def test_server_runs_unpatched_after_a_refusal_unless_patches_are_required(monkeypatch, capsys):
    calls = _fake_ministack_app(monkeypatch)
    refused = [PatchOutcome(DEDUP_PRUNE_PATCH, False, "installed ministack is 9.9.9")]
    monkeypatch.setattr(ministack_server, "apply_patches", lambda: refused)
    monkeypatch.delenv(ministack_server.REQUIRE_PATCHES_ENV, raising=False)
    ministack_server.main(["--stop"])
    assert calls == [["ministack_server", "--stop"]]
    assert "NOT applied" in capsys.readouterr().err

    monkeypatch.setenv(ministack_server.REQUIRE_PATCHES_ENV, "1")
    with pytest.raises(SystemExit) as stopped:
        ministack_server.main([])
    assert stopped.value.code == ministack_server.EXIT_PATCH_REFUSED
    assert len(calls) == 1


def test_server_applies_patches_before_starting_ministack(monkeypatch, capsys):
    calls = _fake_ministack_app(monkeypatch)
    monkeypatch.setenv(ministack_server.REQUIRE_PATCHES_ENV, "1")
    ministack_server.main([])
    assert len(calls) == 1
    assert sqs._prune_dedup is incremental_prune_dedup
    assert f"{DEDUP_PRUNE_PATCH}: applied" in capsys.readouterr().err
