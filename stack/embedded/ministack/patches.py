"""Patches hookstack applies to the pinned MiniStack before it starts serving.

Three patches today:

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

``sqs-delete-batch-one-pass``
    MiniStack 1.5.33's DeleteMessageBatch rebuilds the queue's message list once per entry
    (``for e in entries: q["messages"] = [m for m in q["messages"] if ...]``): ten passes over
    the whole queue for a batch of ten, measured 4–5 ms of emulator CPU at 3,000 queued. The
    event plane deletes every batch it processed this way, so under a backlog the emulator
    spends its core walking the queue. The patch removes every matched message in one pass and
    answers each entry as MiniStack does: in entry order, an entry succeeds if a queued message
    carried its receipt handle and no earlier entry of the batch already took it (a repeated
    handle fails with ``ReceiptHandleIsInvalid``, as the second of MiniStack's passes finds
    nothing). Same messages removed, same order kept, same response; the list is replaced once
    instead of once per entry.

``lambda-esm-external-poller``
    On the embedded target hookstack's event plane (``stack.embedded.event_plane``) polls the
    stack's event source mappings itself, the way Lambda's pollers do. MiniStack's own poller
    must then leave those mappings alone, or two consumers would share the queue. The event
    plane claims a mapping by tagging it ``hookstack:poller=event-plane`` (Lambda's
    TagResource on the mapping's ARN) and removes the tag when it stops; with the patch,
    MiniStack's pollers skip claimed mappings. Unclaimed mappings (``--event-plane ministack``,
    or no hookstack data plane) are polled by MiniStack exactly as before.

What it relies on (MiniStack 1.5.33, ``services/lambda_svc.py``): the SQS, Kinesis and
DynamoDB-stream pollers (``_poll_sqs``, ``_poll_kinesis``, ``_poll_dynamodb_streams``) are
the only callers of ``_iter_all_esms`` and find it in their module globals on every pass;
TagResource/UntagResource on a mapping ARN keep its tags in the mapping record's
``"Tags"`` dict. If the patch refuses, both pollers consume the queue: still at most one
consumer per message at a time (SQS visibility), but the event plane's figures would not
be its own, so benchmarks and tests require the patches.
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
EXTERNAL_POLLER_PATCH = "lambda-esm-external-poller"

# The tag by which hookstack's event plane claims an event source mapping from MiniStack's poller.
EXTERNAL_POLLER_TAG_KEY = "hookstack:poller"
EXTERNAL_POLLER_TAG_VALUE = "event-plane"

# sha256 of inspect.getsource() of the functions whose behaviour the dedup patch was
# checked against in MiniStack 1.5.33. Any change to them means the analysis above has
# to be redone before the patch may apply.
_EXPECTED_SQS_SOURCE_SHA256 = {
    "_prune_dedup": "798b8a9933ba110742728888c3900b7b7fa75a4eeb7d881895bc2247767b404f",
    "_act_send_message": "3abd766508c885c6556ecfb378ba579d18d3781c7cf28c09784917db23da505f",
}

DELETE_BATCH_PATCH = "sqs-delete-batch-one-pass"
_EXPECTED_DELETE_BATCH_SOURCE_SHA256 = {
    "_act_delete_message_batch": "877517c32f0fe6364a3224d853c22141c330d853977dc03080c5cc60f792e8a0",
}

# The same for the external-poller patch, in ministack.services.lambda_svc.
_EXPECTED_LAMBDA_SOURCE_SHA256 = {
    "_iter_all_esms": "7db06c0627a59696f16e20a197656df6556dc1096ef490720049c2abdeeeec21",
    "_poll_sqs": "e438a6a1e09482dc121bc3105d2410c10ed7c582890db22e686153784ea18161",
    "_poll_kinesis": "0d590120d060b0a8b10aadabb1a60cbb31a33d9eb78fcc29a9ade95d839302f9",
    "_poll_dynamodb_streams": "2b2460e933a9f3c3fb00d9e15763d11977533af74787eb39ce1f39bbe6e54e8b",
    "_tag_resource": "c537dacc9f50eed414890821950c85b3ad6b2760e56771cfe77a3bab5ca29735",
    "_untag_resource": "853d2a050c524295ca52db067bdcd6ecfb38c6ba9f4633a0507ba675783a154b",
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


def source_refusal(module: ModuleType, expected_sha256: Mapping[str, str], installed_version: str | None) -> str | None:
    """Why a patch checked against ``expected_sha256`` (function name → sha256 of its source)
    must not touch ``module`` of this MiniStack, or None if it may."""
    if installed_version != PINNED_MINISTACK_VERSION:
        return (
            f"installed ministack is {installed_version or 'missing'}, the patch was "
            f"written and checked for {PINNED_MINISTACK_VERSION}"
        )
    for name, expected in expected_sha256.items():
        function = getattr(module, name, None)
        if not inspect.isfunction(function):
            return f"{module.__name__}.{name} is missing or not a function"
        try:
            actual = _source_sha256(function)
        except (OSError, TypeError):
            return f"source of {module.__name__}.{name} cannot be read to check it"
        if actual != expected:
            return (
                f"{module.__name__}.{name} is not the source the patch was checked "
                f"against (sha256 {actual[:12]}…, expected {expected[:12]}…)"
            )
    return None


def dedup_patch_refusal(sqs_module: ModuleType, installed_version: str | None) -> str | None:
    """Why the dedup patch must not be applied to this MiniStack, or None if it may."""
    refusal = source_refusal(sqs_module, _EXPECTED_SQS_SOURCE_SHA256, installed_version)
    if refusal is not None:
        return refusal
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


def one_pass_delete_message_batch(sqs_module: ModuleType) -> Callable[[dict, str], dict]:
    """MiniStack's ``_act_delete_message_batch`` with one pass over the queue (see above)."""

    def delete_message_batch(data: dict, qurl: str) -> dict:
        url = data.get("QueueUrl", qurl)
        q = sqs_module._get_q(url, "sqs:DeleteMessage")
        entries = data.get("Entries", [])
        sqs_module._validate_batch_entries(entries, "DeleteMessageBatchRequestEntry")
        wanted = {e.get("ReceiptHandle", "") for e in entries if isinstance(e.get("ReceiptHandle", ""), str)}
        matched: set[str] = set()
        kept = []
        for m in q["messages"]:
            handle = m["receipt_handle"]
            if handle is not None and handle in wanted:
                matched.add(handle)
            else:
                kept.append(m)
        q["messages"] = kept
        ok: list = []
        fail: list = []
        for e in entries:
            handle = e.get("ReceiptHandle", "")
            if isinstance(handle, str) and handle in matched:
                matched.discard(handle)  # a repeated handle: the earlier entry took the message
                ok.append({"Id": e.get("Id", "")})
            else:
                fail.append(
                    {
                        "Id": e.get("Id", ""),
                        "Code": "ReceiptHandleIsInvalid",
                        "Message": "The input receipt handle is invalid.",
                        "SenderFault": True,
                    }
                )
        return {"Successful": ok, "Failed": fail}

    delete_message_batch.hookstack_patch = DELETE_BATCH_PATCH  # type: ignore[attr-defined]  # marks it in place
    return delete_message_batch


def apply_delete_batch_patch(
    sqs_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    """Install the one-pass DeleteMessageBatch, if it is safe."""
    if sqs_module is None:
        from ministack.services import sqs

        sqs_module = sqs
    current = getattr(sqs_module, "_act_delete_message_batch", None)
    if getattr(current, "hookstack_patch", None) == DELETE_BATCH_PATCH:
        return PatchOutcome(DELETE_BATCH_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = source_refusal(sqs_module, _EXPECTED_DELETE_BATCH_SOURCE_SHA256, version)
    handlers = getattr(sqs_module, "_HANDLERS", None)
    if refusal is None and (not isinstance(handlers, dict) or handlers.get("DeleteMessageBatch") is not current):
        refusal = (
            "ministack.services.sqs._HANDLERS no longer dispatches DeleteMessageBatch to _act_delete_message_batch"
        )
    if refusal is not None:
        return PatchOutcome(DELETE_BATCH_PATCH, False, refusal)
    assert isinstance(handlers, dict)
    patched = one_pass_delete_message_batch(sqs_module)
    # The action is dispatched through _HANDLERS (a reference taken at import): replace it there too.
    handlers["DeleteMessageBatch"] = patched
    setattr(sqs_module, "_act_delete_message_batch", patched)  # noqa: B010  (a module attribute: mypy sees no such name)
    return PatchOutcome(DELETE_BATCH_PATCH, True, "DeleteMessageBatch removes a batch in one pass over the queue")


def is_claimed(mapping: Mapping[str, Any]) -> bool:
    """True if hookstack's event plane polls this event source mapping record itself."""
    tags = mapping.get("Tags") or {}
    return isinstance(tags, Mapping) and tags.get(EXTERNAL_POLLER_TAG_KEY) == EXTERNAL_POLLER_TAG_VALUE


def unclaimed_mappings(iter_all_esms: Callable[[], Iterable[tuple[Any, Any, dict]]]) -> Callable[[], Any]:
    """Wrap MiniStack's ``_iter_all_esms`` so that its pollers never see a claimed mapping."""

    def iter_unclaimed_esms() -> Iterable[tuple[Any, Any, dict]]:
        for account_id, region, mapping in iter_all_esms():
            if not is_claimed(mapping):
                yield account_id, region, mapping

    iter_unclaimed_esms.__wrapped__ = iter_all_esms  # type: ignore[attr-defined]  # for the guard and for tests
    return iter_unclaimed_esms


def apply_external_poller_patch(
    lambda_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    """Make MiniStack's event source mapping pollers skip mappings hookstack's event plane claimed."""
    if lambda_module is None:
        from ministack.services import lambda_svc

        lambda_module = lambda_svc
    current = getattr(lambda_module, "_iter_all_esms", None)
    if getattr(current, "__wrapped__", None) is not None:
        return PatchOutcome(EXTERNAL_POLLER_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = source_refusal(lambda_module, _EXPECTED_LAMBDA_SOURCE_SHA256, version)
    if refusal is not None:
        return PatchOutcome(EXTERNAL_POLLER_PATCH, False, refusal)
    assert current is not None  # the guard checked it is a function
    # The three pollers look the name up in their module globals on every pass: rebinding suffices.
    setattr(lambda_module, "_iter_all_esms", unclaimed_mappings(current))  # noqa: B010  (a module attribute: mypy sees no such name)
    return PatchOutcome(
        EXTERNAL_POLLER_PATCH,
        True,
        f"mappings tagged {EXTERNAL_POLLER_TAG_KEY}={EXTERNAL_POLLER_TAG_VALUE} are left to hookstack's event plane",
    )


def apply_patches() -> list[PatchOutcome]:
    """Apply every hookstack patch to the imported MiniStack; each one may refuse on its own."""
    return [apply_dedup_prune_patch(), apply_delete_batch_patch(), apply_external_poller_patch()]
