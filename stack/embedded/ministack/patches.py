"""Patches hookstack applies to the pinned MiniStack before it starts serving.

One patch today:

``sqs-fifo-dedup-incremental-prune``
    MiniStack 1.5.33 prunes a FIFO queue's deduplication cache on every SendMessage
    (and on every SendMessageBatch entry) by rebuilding the whole dict:
    ``q["dedup_cache"] = {k: v for k, v in ... if v["expire"] > now}``. The cost is
    linear in the number of ids sent to the queue in the last 5 minutes, so any load
    test longer than a few seconds measures the emulator's prune rather than the stack
    (+3 ms per send at 20k ids in the window, +26 ms at 120k). The patch keeps the
    cache a dict (same keys, same entries, same order) and adds a min-heap of expiry
    times beside it, so a prune pops only what has expired: O(log n) per entry, once.

What the patch relies on (read in MiniStack 1.5.33, ``services/sqs.py`` and every
other module that touches ``dedup_cache``):

- The cache is read in exactly one place, ``_act_send_message``: ``_prune_dedup(q)``
  then ``q["dedup_cache"].get(key)``. SendMessageBatch, Step Functions' and IoT's
  SQS actions all go through ``_act_send_message``.
- It is written in exactly one place, right after that read, with
  ``q["dedup_cache"][key] = {"expire": now + 300, ...}``: a fresh entry dict, never
  mutated afterwards. A live key is never overwritten (a hit returns early); a key
  comes back only after its entry expired.
- It is (re)created as a plain ``{}`` by CreateQueue and by CloudFormation's queue
  provisioner, and restored as plain dicts from persisted state. DeleteMessage,
  DeleteMessageBatch, the ESM delete path and PurgeQueue leave it alone; reset drops
  whole queues.
- Entries are NOT always inserted in expiry order: ``expire`` is wall-clock
  (``time.time()``) which can step back, and Step Functions executions send from their
  own threads, so a send that read the clock earlier can insert later. Hence a heap,
  not a FIFO of insertion order.

Observable semantics kept: after a prune the cache holds exactly the entries whose
``expire`` is later than now, in insertion order, each under its key, so the dedup
decision, the returned MessageId/SequenceNumber and the persisted state are the same
as MiniStack's. The guard below refuses to patch (MiniStack then runs unpatched) when
the installed release or the source of the functions involved is not what this was
written against.
"""

from __future__ import annotations

import hashlib
import heapq
import inspect
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any

PINNED_MINISTACK_VERSION = "1.5.33"

DEDUP_PRUNE_PATCH = "sqs-fifo-dedup-incremental-prune"

# sha256 of inspect.getsource() of the functions whose behaviour the dedup patch was
# checked against in MiniStack 1.5.33. Any change to them means the analysis above has
# to be redone before the patch may apply.
_EXPECTED_SQS_SOURCE_SHA256 = {
    "_prune_dedup": "798b8a9933ba110742728888c3900b7b7fa75a4eeb7d881895bc2247767b404f",
    "_act_send_message": "3abd766508c885c6556ecfb378ba579d18d3781c7cf28c09784917db23da505f",
}


@dataclass(frozen=True)
class PatchOutcome:
    """Whether one patch is in place, and why (not)."""

    name: str
    applied: bool
    detail: str

    def describe(self) -> str:
        state = "applied" if self.applied else "NOT applied, MiniStack runs unpatched"
        return f"MiniStack patch {self.name}: {state} ({self.detail})"


class ExpiryIndexedDedupCache(dict):
    """A FIFO queue's dedup cache (key -> entry with ``expire``) plus a min-heap of expiries.

    It is still a dict for every reader. Entries removed or replaced by other means are
    dropped from the heap lazily: a heap item only deletes its key if the key still maps
    to the very entry object the item was pushed for.
    """

    __slots__ = ("_expiry_heap", "_tiebreak")

    def __init__(self, entries: Mapping[Any, dict] | Iterable[tuple[Any, dict]] = ()) -> None:
        super().__init__()
        self._expiry_heap: list[tuple[float, int, Any, dict]] = []
        # Unique second tuple member: equal expiries never fall through to comparing
        # keys or entry dicts.
        self._tiebreak = itertools.count()
        self.update(entries)

    def _index(self, key: Any, entry: dict) -> None:
        heapq.heappush(self._expiry_heap, (entry["expire"], next(self._tiebreak), key, entry))

    def __setitem__(self, key: Any, entry: dict) -> None:
        dict.__setitem__(self, key, entry)
        self._index(key, entry)

    # dict's C-level update/setdefault/|= would bypass __setitem__; MiniStack does not
    # use them on this cache, but an unindexed entry would never expire, so route them.
    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, entry in dict(*args, **kwargs).items():
            self[key] = entry

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def __ior__(self, other: Any) -> ExpiryIndexedDedupCache:  # type: ignore[misc]  # dict types |= against dict only; ours takes any mapping, as update() does
        self.update(other)
        return self

    def clear(self) -> None:
        dict.clear(self)
        self._expiry_heap.clear()

    def drop_expired(self, now: float) -> None:
        """Remove every entry whose ``expire`` is not later than ``now`` (MiniStack's rule)."""
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            _, _, key, entry = heapq.heappop(heap)
            current = dict.get(self, key)
            if current is not entry:
                continue  # replaced or removed since: nothing of this item is left to expire
            if current["expire"] <= now:
                dict.pop(self, key, None)
            else:
                # Only reachable if another thread popped the item we peeked at, or an
                # entry's expire was moved later in place: keep it indexed at its expiry.
                self._index(key, current)

    # Copies (MiniStack's get_state deep-copies all queues before writing JSON) and
    # pickles are plain dicts: persisted state stays loadable by an unpatched MiniStack.
    def __reduce_ex__(self, protocol: Any) -> tuple[type, tuple[dict]]:
        return dict, (dict(self),)


def incremental_prune_dedup(q: dict) -> None:
    """Drop-in for ``ministack.services.sqs._prune_dedup``: same result, cost per expired id."""
    now = time.time()
    cache = q["dedup_cache"]
    if type(cache) is not ExpiryIndexedDedupCache:
        # A new queue ({}), a CloudFormation-created one, or one restored from disk:
        # index it once, in its insertion order.
        cache = ExpiryIndexedDedupCache(cache)
        q["dedup_cache"] = cache
    cache.drop_expired(now)


def _source_sha256(function: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def installed_ministack_version() -> str | None:
    try:
        return metadata.version("ministack")
    except metadata.PackageNotFoundError:
        return None


def dedup_patch_refusal(sqs_module: ModuleType, installed_version: str | None) -> str | None:
    """Why the dedup patch must not be applied to this MiniStack, or None if it may."""
    if installed_version != PINNED_MINISTACK_VERSION:
        return (
            f"installed ministack is {installed_version or 'missing'}, the patch was "
            f"written and checked for {PINNED_MINISTACK_VERSION}"
        )
    for name, expected in _EXPECTED_SQS_SOURCE_SHA256.items():
        function = getattr(sqs_module, name, None)
        if not inspect.isfunction(function):
            return f"ministack.services.sqs.{name} is missing or not a function"
        try:
            actual = _source_sha256(function)
        except (OSError, TypeError):
            return f"source of ministack.services.sqs.{name} cannot be read to check it"
        if actual != expected:
            return (
                f"ministack.services.sqs.{name} is not the source the patch was checked "
                f"against (sha256 {actual[:12]}…, expected {expected[:12]}…)"
            )
    if list(inspect.signature(sqs_module._prune_dedup).parameters) != ["q"]:
        return "ministack.services.sqs._prune_dedup no longer takes (q)"
    return None


def apply_dedup_prune_patch(sqs_module: ModuleType | None = None, installed_version: str | None = None) -> PatchOutcome:
    """Install ``incremental_prune_dedup`` as MiniStack's SQS ``_prune_dedup``, if it is safe."""
    if sqs_module is None:
        from ministack.services import sqs

        sqs_module = sqs
    if getattr(sqs_module, "_prune_dedup", None) is incremental_prune_dedup:
        return PatchOutcome(DEDUP_PRUNE_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = dedup_patch_refusal(sqs_module, version)
    if refusal is not None:
        return PatchOutcome(DEDUP_PRUNE_PATCH, False, refusal)
    # _act_send_message looks the name up in its module globals on every call, as do
    # its other callers (SendMessageBatch, Step Functions, IoT rules): rebinding suffices.
    setattr(sqs_module, "_prune_dedup", incremental_prune_dedup)  # noqa: B010  (a module attribute: mypy sees no such name)
    return PatchOutcome(DEDUP_PRUNE_PATCH, True, "FIFO dedup cache pruned incrementally through an expiry heap")


def apply_patches() -> list[PatchOutcome]:
    """Apply every hookstack patch to the imported MiniStack; each one may refuse on its own."""
    return [apply_dedup_prune_patch()]
