"""Patches hookstack applies to the pinned MiniStack before it starts serving.

First part: three patches that keep MiniStack's semantics and fix its cost or its poller.

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
  DeleteMessageBatch and the ESM delete path leave it alone; PurgeQueue empties it only
  with ``sqs-purge-clears-dedup`` (through ``clear()``, which empties the heap too); reset
  drops whole queues.
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

Second part: patches that make MiniStack's SQS FIFO and Lambda errors behave as AWS does, each
checked by a behaviour of ``stack.fidelity`` (``hookstack fidelity``; LocalStack's AWS-validated
SQS tests and their recorded snapshots, and the SQS and Lambda documentation). Each wraps or
replaces only the functions named in its guard, and delegates to MiniStack's own code for
everything it does not change. The handler wrappers go into ``_HANDLERS`` (what the HTTP
actions dispatch through), not into the module attributes, so MiniStack's internal callers
(SNS fan-out, Step Functions, IoT rules, its own mapping poller) keep calling its functions.

``sqs-fifo-receive-per-group``
    MiniStack: a FIFO receive walks the queue in global send order, skipping every group that
    has any message in flight; so one receive mixes groups in send order, and a message whose
    visibility was reset (or ran out) stays hidden while a later message of its group is in
    flight. AWS (``test_fifo_receive_message_group_id_ordering``,
    ``…_visibility_timeout_shared_in_group``, ``…_with_zero_visibility_timeout``,
    ``…_group_visibility_after_terminate_visibility_timeout`` / ``_change_message_visibility`` /
    ``_delete`` / ``_partial_delete``): a receive returns whole groups, each in send order; within a
    group, messages are returned up to the first one in flight (or delayed); groups come in the
    order they became receivable (a never-received group by its first message's send time, a
    returning one from the moment its visibility ended). The patch is ``_collect_fifo`` with that
    rule; receipt handles, visibility, receive counts and first-receive times are set as
    MiniStack sets them.
``sqs-fifo-expired-receipt-handle``
    MiniStack: deleting with a receipt handle whose visibility timeout ran out succeeds (the
    message keeps its handle until received again). AWS (``test_fifo_delete_message_with_expired_receipt_handle``,
    snapshot): ``InvalidParameterValue`` "The receipt handle has expired", for FIFO queues; a
    standard queue accepts an old handle (``test_remove_message_with_old_receipt_handle``). The
    patch refuses, on FIFO queues, DeleteMessage and each DeleteMessageBatch entry whose handle
    is a message's current handle and that message is visible again; the rest goes to the
    handler MiniStack (or ``sqs-delete-batch-one-pass``) installed. A slow consumer's late delete
    now fails and the message is redelivered, as on AWS.
``sqs-purge-clears-dedup``
    MiniStack: PurgeQueue empties the messages and keeps the deduplication cache. AWS
    (``test_purge_queue_clears_fifo_deduplication_cache``): the cache is cleared, a dedup id sent
    before the purge is accepted again. The patch clears ``dedup_cache`` after MiniStack's purge.
``sqs-fifo-send-validation``
    MiniStack: any MessageGroupId / MessageDeduplicationId is accepted, and a SendMessageBatch entry
    without a group id (or without a dedup id on a queue without content-based dedup) fails alone.
    AWS (SendMessage reference; ``test_send_batch_missing_deduplication_id_for_fifo_queue``,
    ``…_missing_message_group_id_…``): ids are 1–128 alphanumeric or punctuation characters, else
    ``InvalidParameterValue``; a batch missing an id is refused whole (MissingParameter /
    InvalidParameterValue, the single send's codes). A malformed id in a batch fails its entry.
``sqs-queue-attribute-rules``
    MiniStack: ``"True"`` is not read as true; a ``.fifo`` name without ``FifoQueue`` makes a FIFO
    queue; FIFO-only attributes are stored on standard queues; ``FifoQueue`` can be set (and
    flipped) by SetQueueAttributes; GetQueueAttributes of a FIFO queue omits DeduplicationScope and
    FifoThroughputLimit. AWS (CreateQueue/SetQueueAttributes reference, ``test_standard_queue_cannot_have_fifo_suffix``,
    ``test_set_unsupported_attribute_fifo``, the ``test_fifo_set_content_based_deduplication_strategy``
    snapshot): booleans are read in any case; the ``.fifo`` name needs ``FifoQueue=true``
    (InvalidParameterValue); FIFO-only attributes on a standard queue and ``FifoQueue`` set on one
    are InvalidAttributeName; ``FifoQueue=false`` on a FIFO queue is InvalidAttributeValue; a FIFO
    queue reports ``DeduplicationScope=queue`` and ``FifoThroughputLimit=perQueue`` by default (the
    values MiniStack's send path already assumes). CloudFormation-created queues do not go through
    these actions (MiniStack's provisioner reads booleans with its own ``_cfn_bool``); they get the
    defaults on their first GetQueueAttributes.
``lambda-python-error-type``
    MiniStack's warm executor reports every Python exception as ``errorType: Runtime.HandlerError``
    with no ``stackTrace``. AWS (Lambda developer guide, Python errors): errorType is the
    exception's class name, with errorMessage and stackTrace (the traceback's frames). The patch
    reads them from the traceback MiniStack already returns beside the error (the exception line
    whose message is the error message; the class name without its module) for Python runtimes;
    anything it cannot read stays as MiniStack reported it.

Not patched, and why: see ``stack.fidelity.divergences`` (ListDeadLetterSourceQueues, attribute
propagation delays, throughput quotas, MiniStack's own mapping poller).
"""

from __future__ import annotations

import hashlib
import heapq
import inspect
import itertools
import re
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
    return [
        apply_dedup_prune_patch(),
        apply_delete_batch_patch(),
        apply_external_poller_patch(),
        apply_fifo_receive_patch(),
        apply_expired_receipt_patch(),
        apply_purge_dedup_patch(),
        apply_send_validation_patch(),
        apply_queue_attributes_patch(),
        apply_lambda_error_type_patch(),
    ]


# ── SQS FIFO: AWS semantics (see the module docstring, second part) ──────────

FIFO_RECEIVE_PATCH = "sqs-fifo-receive-per-group"
EXPIRED_RECEIPT_PATCH = "sqs-fifo-expired-receipt-handle"
PURGE_DEDUP_PATCH = "sqs-purge-clears-dedup"
SEND_VALIDATION_PATCH = "sqs-fifo-send-validation"
QUEUE_ATTRIBUTES_PATCH = "sqs-queue-attribute-rules"
LAMBDA_ERROR_TYPE_PATCH = "lambda-python-error-type"

_EXPECTED_FIFO_RECEIVE_SOURCE_SHA256 = {
    "_collect_fifo": "dc84c5a1db0be8078b048edfd7f3154437098fd8219ad19fa2d0a12afe1da257",
    "_collect_msgs": "308a6eb1b3d4c8ad5e5e63b0abb0e8ae9556d70f8c8126bfa221b0b3dbf6360a",
}
# The actions whose handlers these patches wrap (each delegates to MiniStack's own afterwards).
_EXPECTED_SQS_ACTION_SOURCE_SHA256 = {
    "_act_delete_message": "8d700665e3d6d9b3c349ccda41bb380414aae01fd177596fe4c82f5a68e61822",
    "_act_purge_queue": "34196ea56d71cdb6d668860f28da2377dc8eaa865fa7c23a80320f7a1f6001bb",
    "_act_send_message_batch": "2cab381a76df25bfb8727a533aa702e1b33936fd50c2b3202e4d4862acb2ab94",
    "_act_create_queue": "5f6e8f364cd9e78a44df68f03285774e5efe8210e17afe1dd724762adb760c1f",
    "_act_set_queue_attributes": "c7a502e07f5ee102b521efba9dbe74ebea0bdcf85dcf752f157e1c27efee9316",
    "_act_get_queue_attributes": "a24bfde4ed4e6c15ed46f3cfaec7e78b3309740154813013867bfd7671b2b98f",
    "_get_q": "cac74fb142a7c27ef665fcc6ba5eff47a4ddd11e744ce5954eb2d43fde50d57a",
    "_validate_batch_entries": "47c203ea5bd27179eb101d91f1543447666990d599a10b34c7d0224b3cb4c1b5",
}
_EXPECTED_LAMBDA_ERROR_SOURCE_SHA256 = {
    "_execute_function_warm": "62b9218bef5b948a23c3269d6fb7260f88dda21cb88a1962ab72e4dceac81153",
}

# SendMessage: "MessageGroupId ... can contain alphanumeric characters (a-z, A-Z, 0-9) and
# punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~)", 128 characters at most; the same for
# MessageDeduplicationId.
FIFO_ID_PATTERN = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")
FIFO_ONLY_ATTRIBUTES = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
BOOLEAN_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication")
ENUM_ATTRIBUTES = {
    "DeduplicationScope": ("messageGroup", "queue"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
# What GetQueueAttributes reports for a FIFO queue created without them (AWS defaults).
FIFO_ATTRIBUTE_DEFAULTS = {"DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"}
_NO_GROUP = object()


def fifo_receive_per_group(sqs_module: ModuleType) -> Callable[[dict, int, int, float], list]:
    """Drop-in for ``_collect_fifo``: what a FIFO receive returns, group by group, as SQS does."""

    def collect_fifo(q: dict, max_n: int, vis_timeout: int, now: float) -> list:
        messages = q["messages"]
        ready: dict[Any, list] = {}  # group -> its receivable messages, in send order
        head: dict[Any, tuple[float, int]] = {}  # group -> (since when its first one is receivable, position)
        blocked: set = set()
        for position, m in enumerate(messages):
            sqs_module._ensure_msg_fields(m)
            group = m["group_id"] or (_NO_GROUP, position)  # no group (internal producers): alone
            if group in blocked:
                continue
            if m["visible_at"] > now:
                # In flight or delayed: it, and every later message of its group, waits.
                blocked.add(group)
                continue
            if group not in ready:
                ready[group] = []
                head[group] = (m["visible_at"], position)
            ready[group].append(m)
        result: list = []
        # Groups in the order they became receivable: never-received ones by send time, others
        # from when their visibility ended (or was reset), which is the order SQS answers in.
        for group in heapq.nsmallest(max_n, ready, key=head.__getitem__):
            result.extend(ready[group][: max_n - len(result)])
            if len(result) >= max_n:
                break
        for m in result:
            m["receipt_handle"] = sqs_module.new_uuid()
            m["visible_at"] = now + vis_timeout
            m["receive_count"] += 1
            if m.get("first_receive_at") is None:
                m["first_receive_at"] = now
        return result

    collect_fifo.hookstack_patch = FIFO_RECEIVE_PATCH  # type: ignore[attr-defined]  # marks it in place
    collect_fifo.__wrapped__ = sqs_module._collect_fifo  # type: ignore[attr-defined]  # MiniStack's, for tests
    return collect_fifo


def _sqs_module(sqs_module: ModuleType | None) -> ModuleType:
    if sqs_module is None:
        from ministack.services import sqs

        return sqs
    return sqs_module


def _refused(
    name: str, sqs_module: ModuleType, expected: Mapping[str, str], installed_version: str | None
) -> str | None:
    version = installed_version if installed_version is not None else installed_ministack_version()
    return source_refusal(sqs_module, expected, version)


def apply_fifo_receive_patch(
    sqs_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    """Install ``fifo_receive_per_group`` as MiniStack's ``_collect_fifo``, if it is safe."""
    sqs_module = _sqs_module(sqs_module)
    if getattr(getattr(sqs_module, "_collect_fifo", None), "hookstack_patch", None) == FIFO_RECEIVE_PATCH:
        return PatchOutcome(FIFO_RECEIVE_PATCH, True, "already in place")
    refusal = _refused(FIFO_RECEIVE_PATCH, sqs_module, _EXPECTED_FIFO_RECEIVE_SOURCE_SHA256, installed_version)
    if refusal is not None:
        return PatchOutcome(FIFO_RECEIVE_PATCH, False, refusal)
    # _collect_msgs (ReceiveMessage and MiniStack's own mapping poller) looks it up in its module
    # globals on every call: rebinding suffices.
    setattr(sqs_module, "_collect_fifo", fifo_receive_per_group(sqs_module))  # noqa: B010  (a module attribute: mypy sees no such name)
    return PatchOutcome(
        FIFO_RECEIVE_PATCH, True, "FIFO receives return whole groups; a group waits only behind its in-flight message"
    )


def _queue_of(sqs_module: ModuleType, data: dict, qurl: str, action: str) -> dict:
    return sqs_module._get_q(data.get("QueueUrl", qurl), action)


def _expired_handles(q: dict, handles: Iterable[Any], now: float) -> set[str]:
    """Receipt handles of ``q``'s messages whose visibility timeout has run out (FIFO only)."""
    wanted = {h for h in handles if isinstance(h, str) and h}
    if not q["is_fifo"] or not wanted:
        return set()
    return {m["receipt_handle"] for m in q["messages"] if m.get("receipt_handle") in wanted and m["visible_at"] <= now}


def _expired_message(handle: str) -> str:
    return f"Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."


def expiring_delete_message(sqs_module: ModuleType, inner: Callable[[dict, str], Any]) -> Callable[[dict, str], Any]:
    def delete_message(data: dict, qurl: str) -> Any:
        q = _queue_of(sqs_module, data, qurl, "sqs:DeleteMessage")
        handle = data.get("ReceiptHandle", "")
        if _expired_handles(q, [handle], time.time()):
            raise sqs_module._Err("InvalidParameterValue", _expired_message(handle))
        return inner(data, qurl)

    return delete_message


def expiring_delete_message_batch(
    sqs_module: ModuleType, inner: Callable[[dict, str], Any]
) -> Callable[[dict, str], Any]:
    def delete_message_batch(data: dict, qurl: str) -> Any:
        q = _queue_of(sqs_module, data, qurl, "sqs:DeleteMessage")
        entries = data.get("Entries", [])
        sqs_module._validate_batch_entries(entries, "DeleteMessageBatchRequestEntry")
        expired = _expired_handles(q, (e.get("ReceiptHandle") for e in entries), time.time())
        if not expired:
            return inner(data, qurl)
        live = [e for e in entries if e.get("ReceiptHandle") not in expired]
        result = inner({**data, "Entries": live}, qurl) if live else {"Successful": [], "Failed": []}
        for e in entries:
            if e.get("ReceiptHandle") in expired:
                result["Failed"].append(
                    {
                        "Id": e.get("Id", ""),
                        "Code": "InvalidParameterValue",
                        "Message": _expired_message(e["ReceiptHandle"]),
                        "SenderFault": True,
                    }
                )
        return result

    return delete_message_batch


def purge_clearing_dedup(sqs_module: ModuleType, inner: Callable[[dict, str], Any]) -> Callable[[dict, str], Any]:
    def purge_queue(data: dict, qurl: str) -> Any:
        result = inner(data, qurl)
        # A plain dict or the dedup patch's ExpiryIndexedDedupCache (whose clear() empties its heap too).
        _queue_of(sqs_module, data, qurl, "sqs:PurgeQueue")["dedup_cache"].clear()
        return result

    return purge_queue


def _bad_fifo_id(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """(parameter, reason) of the first malformed FIFO id in a send, or None."""
    for name in ("MessageGroupId", "MessageDeduplicationId"):
        value = data.get(name)
        if value is not None and value != "" and not (isinstance(value, str) and FIFO_ID_PATTERN.match(value)):
            return name, (
                f"Value {value} for parameter {name} is invalid. Reason: {name} can only include alphanumeric "
                "and punctuation characters. 1 to 128 in length."
            )
    return None


def validating_send_message(sqs_module: ModuleType, inner: Callable[[dict, str], Any]) -> Callable[[dict, str], Any]:
    def send_message(data: dict, qurl: str) -> Any:
        if _queue_of(sqs_module, data, qurl, "sqs:SendMessage")["is_fifo"]:
            bad = _bad_fifo_id(data)
            if bad is not None:
                raise sqs_module._Err("InvalidParameterValue", bad[1])
        return inner(data, qurl)

    return send_message


def validating_send_message_batch(
    sqs_module: ModuleType, inner: Callable[[dict, str], Any]
) -> Callable[[dict, str], Any]:
    def send_message_batch(data: dict, qurl: str) -> Any:
        q = _queue_of(sqs_module, data, qurl, "sqs:SendMessage")
        entries = data.get("Entries", [])
        if not q["is_fifo"]:
            return inner(data, qurl)
        sqs_module._validate_batch_entries(entries, "SendMessageBatchRequestEntry")
        # A missing id refuses the whole request (AWS), with the single send's code and message.
        if any(not e.get("MessageGroupId") for e in entries):
            raise sqs_module._Err("MissingParameter", "The request must contain the parameter MessageGroupId.")
        if q["attributes"].get("ContentBasedDeduplication") != "true" and any(
            not e.get("MessageDeduplicationId") for e in entries
        ):
            raise sqs_module._Err(
                "InvalidParameterValue",
                "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId "
                "provided explicitly.",
            )
        malformed = {id(e): bad for e in entries if (bad := _bad_fifo_id(e)) is not None}
        if not malformed:
            return inner(data, qurl)
        good = [e for e in entries if id(e) not in malformed]
        result = inner({**data, "Entries": good}, qurl) if good else {"Successful": [], "Failed": []}
        for e in entries:
            if id(e) in malformed:
                result["Failed"].append(
                    {
                        "Id": e.get("Id", ""),
                        "Code": "InvalidParameterValue",
                        "Message": malformed[id(e)][1],
                        "SenderFault": True,
                    }
                )
        return result

    return send_message_batch


def _checked_attributes(sqs_module: ModuleType, attributes: Mapping[str, Any], fifo: bool) -> dict[str, Any]:
    """Queue attributes as SQS reads them: booleans in any case, FIFO-only ones on FIFO queues only."""
    checked = dict(attributes)
    for name in BOOLEAN_ATTRIBUTES:
        if name in checked:
            value = str(checked[name]).lower()
            if value not in ("true", "false"):
                raise sqs_module._Err("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
            checked[name] = value
    for name, allowed in ENUM_ATTRIBUTES.items():
        if name in checked and checked[name] not in allowed:
            raise sqs_module._Err("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
    if not fifo:
        for name in FIFO_ONLY_ATTRIBUTES:
            if name in checked:
                raise sqs_module._Err("InvalidAttributeName", f"Unknown Attribute {name}.")
    return checked


def checking_create_queue(sqs_module: ModuleType, inner: Callable[[dict, str], Any]) -> Callable[[dict, str], Any]:
    def create_queue(data: dict, qurl: str) -> Any:
        raw = data.get("Attributes") or {}
        fifo = str(raw.get("FifoQueue", "")).lower() == "true"
        attributes = _checked_attributes(sqs_module, raw, fifo)
        if str(data.get("QueueName", "")).endswith(".fifo") and not fifo:
            raise sqs_module._Err(
                "InvalidParameterValue",
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            )
        if not fifo:
            attributes.pop("FifoQueue", None)  # "false": a standard queue, which reports no FifoQueue
        return inner({**data, "Attributes": attributes}, qurl)

    return create_queue


def checking_set_queue_attributes(
    sqs_module: ModuleType, inner: Callable[[dict, str], Any]
) -> Callable[[dict, str], Any]:
    def set_queue_attributes(data: dict, qurl: str) -> Any:
        q = _queue_of(sqs_module, data, qurl, "sqs:SetQueueAttributes")
        attributes = _checked_attributes(sqs_module, data.get("Attributes") or {}, q["is_fifo"])
        if "FifoQueue" in attributes:
            if not q["is_fifo"]:
                raise sqs_module._Err("InvalidAttributeName", "Unknown Attribute FifoQueue.")
            if attributes.pop("FifoQueue") != "true":
                raise sqs_module._Err(
                    "InvalidAttributeValue",
                    "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.",
                )
        return inner({**data, "Attributes": attributes}, qurl)

    return set_queue_attributes


def defaulting_get_queue_attributes(
    sqs_module: ModuleType, inner: Callable[[dict, str], Any]
) -> Callable[[dict, str], Any]:
    def get_queue_attributes(data: dict, qurl: str) -> Any:
        q = _queue_of(sqs_module, data, qurl, "sqs:GetQueueAttributes")
        if q["is_fifo"]:
            # The values MiniStack's send path already assumes when they are absent.
            for name, value in FIFO_ATTRIBUTE_DEFAULTS.items():
                q["attributes"].setdefault(name, value)
        return inner(data, qurl)

    return get_queue_attributes


HandlerFactory = Callable[[ModuleType, Callable[[dict, str], Any]], Callable[[dict, str], Any]]


def _wrap_actions(
    name: str,
    detail: str,
    wrappers: Mapping[str, tuple[str, HandlerFactory]],
    sqs_module: ModuleType | None,
    installed_version: str | None,
    also_checked: Mapping[str, str] | None = None,
) -> PatchOutcome:
    """Put each action's wrapper in front of the handler ``_HANDLERS`` dispatches it to now.

    ``wrappers``: action → (MiniStack function it must still dispatch to, or that a hookstack patch
    already replaced, factory). Module attributes are left alone: MiniStack's internal callers
    (SNS fan-out, Step Functions, the mapping poller) keep calling its own functions.
    """
    sqs_module = _sqs_module(sqs_module)
    handlers = getattr(sqs_module, "_HANDLERS", None)
    if not isinstance(handlers, dict):
        return PatchOutcome(name, False, "ministack.services.sqs._HANDLERS is missing")
    if all(getattr(handlers.get(action), "hookstack_patch", None) == name for action in wrappers):
        return PatchOutcome(name, True, "already in place")
    expected = {**_EXPECTED_SQS_ACTION_SOURCE_SHA256, **(also_checked or {})}
    refusal = _refused(name, sqs_module, expected, installed_version)
    if refusal is not None:
        return PatchOutcome(name, False, refusal)
    for action, (function_name, _) in wrappers.items():
        current = handlers.get(action)
        if (
            current is not getattr(sqs_module, function_name, None)
            and getattr(current, "hookstack_patch", None) is None
        ):
            return PatchOutcome(
                name, False, f"ministack.services.sqs._HANDLERS no longer dispatches {action} to {function_name}"
            )
    for action, (_, factory) in wrappers.items():
        inner = handlers[action]
        wrapped = factory(sqs_module, inner)
        wrapped.hookstack_patch = name  # type: ignore[attr-defined]  # marks it in place
        wrapped.__wrapped__ = inner  # type: ignore[attr-defined]  # the handler it delegates to
        handlers[action] = wrapped
    return PatchOutcome(name, True, detail)


def apply_expired_receipt_patch(
    sqs_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    sqs_module = _sqs_module(sqs_module)
    batch = getattr(sqs_module, "_act_delete_message_batch", None)
    # MiniStack's own DeleteMessageBatch is checked; the one-pass patch's replacement is ours.
    batch_checked = (
        {} if getattr(batch, "hookstack_patch", None) == DELETE_BATCH_PATCH else _EXPECTED_DELETE_BATCH_SOURCE_SHA256
    )
    return _wrap_actions(
        EXPIRED_RECEIPT_PATCH,
        "deleting a FIFO message with a receipt handle past its visibility timeout fails, as on AWS",
        {
            "DeleteMessage": ("_act_delete_message", expiring_delete_message),
            "DeleteMessageBatch": ("_act_delete_message_batch", expiring_delete_message_batch),
        },
        sqs_module,
        installed_version,
        batch_checked,
    )


def apply_purge_dedup_patch(sqs_module: ModuleType | None = None, installed_version: str | None = None) -> PatchOutcome:
    return _wrap_actions(
        PURGE_DEDUP_PATCH,
        "PurgeQueue clears the FIFO deduplication cache, as on AWS",
        {"PurgeQueue": ("_act_purge_queue", purge_clearing_dedup)},
        sqs_module,
        installed_version,
    )


def apply_send_validation_patch(
    sqs_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    return _wrap_actions(
        SEND_VALIDATION_PATCH,
        "FIFO id formats checked; a batch missing an id is refused whole, as on AWS",
        {
            "SendMessage": ("_act_send_message", validating_send_message),
            "SendMessageBatch": ("_act_send_message_batch", validating_send_message_batch),
        },
        sqs_module,
        installed_version,
        {"_act_send_message": _EXPECTED_SQS_SOURCE_SHA256["_act_send_message"]},
    )


def apply_queue_attributes_patch(
    sqs_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    return _wrap_actions(
        QUEUE_ATTRIBUTES_PATCH,
        "queue attributes read and refused as on AWS (booleans in any case, FIFO-only attributes, FifoQueue fixed)",
        {
            "CreateQueue": ("_act_create_queue", checking_create_queue),
            "SetQueueAttributes": ("_act_set_queue_attributes", checking_set_queue_attributes),
            "GetQueueAttributes": ("_act_get_queue_attributes", defaulting_get_queue_attributes),
        },
        sqs_module,
        installed_version,
    )


# ── Lambda: a Python exception's errorType ───────────────────────────────────

_TRACEBACK_HEADER = "Traceback (most recent call last):"
_WORKER_FRAME_SUFFIX = "/_worker.py"  # MiniStack's Python worker script, the frame that calls the handler
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.<>]*)(?:: (?P<message>.*))?$")


def python_error_from_traceback(trace: str, message: str) -> dict[str, Any] | None:
    """errorType, errorMessage and stackTrace as Lambda's Python runtime reports them, read from
    ``traceback.format_exc()`` of the exception whose ``str()`` is ``message``; None if unreadable."""
    start = trace.rfind(_TRACEBACK_HEADER)
    if start < 0:
        return None
    lines = trace[start + len(_TRACEBACK_HEADER) :].splitlines()
    first_message_line = message.splitlines()[0] if message else ""
    for index in range(len(lines) - 1, -1, -1):
        match = _EXCEPTION_LINE.match(lines[index])
        if match is None or (match["message"] or "") != first_message_line:
            continue
        frames: list[str] = []
        for line in lines[:index]:
            if line.startswith("  File "):
                frames.append(line + "\n")
            elif line.startswith("    ") and frames:
                frames[-1] += line + "\n"
        # Lambda's trace starts at the handler: drop the frame of MiniStack's worker loop.
        frames = [f for f in frames if f'{_WORKER_FRAME_SUFFIX}", ' not in f.split("\n", 1)[0]]
        # format_exception_only prefixes the module ("index.PaymentDeclined"); Lambda gives the class name.
        return {"errorMessage": message, "errorType": match["type"].rpartition(".")[2], "stackTrace": frames}
    return None


def python_error_types(execute_warm: Callable[[dict, dict, str], dict]) -> Callable[[dict, dict, str], dict]:
    """Wrap ``_execute_function_warm`` so a Python handler's exception is named as Lambda names it."""

    def execute_function_warm(func: dict, event: dict, request_id: str) -> dict:
        result = execute_warm(func, event, request_id)
        body = result.get("body") if isinstance(result, dict) else None
        config = func.get("config") or func
        if (
            isinstance(result, dict)
            and result.get("error")
            and isinstance(body, dict)
            and body.get("errorType") == "Runtime.HandlerError"
            and str(config.get("Runtime", "")).startswith("python")
        ):
            named = python_error_from_traceback(str(result.get("log", "")), str(body.get("errorMessage", "")))
            if named is not None:
                result = {**result, "body": {**body, **named}}
        return result

    execute_function_warm.__wrapped__ = execute_warm  # type: ignore[attr-defined]  # for the guard and for tests
    execute_function_warm.hookstack_patch = LAMBDA_ERROR_TYPE_PATCH  # type: ignore[attr-defined]
    return execute_function_warm


def apply_lambda_error_type_patch(
    lambda_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    if lambda_module is None:
        from ministack.services import lambda_svc

        lambda_module = lambda_svc
    current = getattr(lambda_module, "_execute_function_warm", None)
    if getattr(current, "hookstack_patch", None) == LAMBDA_ERROR_TYPE_PATCH:
        return PatchOutcome(LAMBDA_ERROR_TYPE_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = source_refusal(lambda_module, _EXPECTED_LAMBDA_ERROR_SOURCE_SHA256, version)
    if refusal is not None:
        return PatchOutcome(LAMBDA_ERROR_TYPE_PATCH, False, refusal)
    assert current is not None
    # Its three callers (invoke, the mapping pollers' invoke, function URLs) look it up in the
    # module globals on every call: rebinding suffices.
    setattr(lambda_module, "_execute_function_warm", python_error_types(current))  # noqa: B010  (a module attribute)
    return PatchOutcome(
        LAMBDA_ERROR_TYPE_PATCH, True, "a Python exception's errorType is its class name, with its stackTrace"
    )
