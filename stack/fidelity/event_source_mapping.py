"""The SQS FIFO event source mapping as Lambda runs it, checked on the fidelity stack's mapping.

The mapped function records every batch it is given (records, receive counts, when it started and
ended, what it failed) on the stack's log queue before it answers; a check sends messages to the
FIFO queue and reads the log back. A batch is in flight at least from the function's start to its
end, so two batches of one group whose recorded intervals overlap were in flight together.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from stack.fidelity.behaviour import Behaviour, Differs
from stack.fidelity.fidelity_stack import VISIBILITY_TIMEOUT_S, FidelityStack, shared_fidelity_stack
from stack.fidelity.probe import Probe

AREA = "event-source-mapping"
WITH_SQS_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html"
SCALING_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html"
PARTIAL_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html (partial batch responses)"
LOCALSTACK_SQS_ESM = "LocalStack tests/aws/services/lambda_/event_source_mapping/test_lambda_integration_sqs.py"
COLLECT_TIMEOUT_S = 45.0  # every message of a check processed within this, redeliveries included


@dataclass(frozen=True)
class Delivery:
    message_id: str
    body: str
    group: str
    receive_count: int


@dataclass(frozen=True)
class Batch:
    started: float
    ended: float
    records: tuple[Delivery, ...]
    failed: frozenset[str]  # message ids the function reported in batchItemFailures
    crashed: bool  # the function raised: the whole batch failed

    @classmethod
    def from_log(cls, entry: dict) -> Batch:
        records = tuple(
            Delivery(r["id"], r["body"], r.get("group") or "", int(r.get("receive_count") or 0))
            for r in entry.get("records", [])
        )
        return cls(
            float(entry["started"]),
            float(entry["ended"]),
            records,
            frozenset(entry.get("failed", [])),
            bool(entry.get("crashed")),
        )

    def succeeded(self, delivery: Delivery) -> bool:
        return not self.crashed and delivery.message_id not in self.failed


def in_order(batches: Sequence[Batch]) -> list[Batch]:
    return sorted(batches, key=lambda b: (b.started, b.ended))


def overlapping_batches(batches: Sequence[Batch]) -> list[tuple[str, Batch, Batch]]:
    """(group, earlier, later) for two batches holding one group whose intervals overlap."""
    found = []
    groups = {d.group for b in batches for d in b.records}
    for group in sorted(groups):
        mine = in_order([b for b in batches if any(d.group == group for d in b.records)])
        for earlier, later in zip(mine, mine[1:], strict=False):
            if later.started < earlier.ended:
                found.append((group, earlier, later))
    return found


def successes_by_group(batches: Sequence[Batch]) -> dict[str, list[str]]:
    """Each group's bodies in the order they were processed without failing."""
    order: dict[str, list[str]] = {}
    for batch in in_order(batches):
        for delivery in batch.records:
            if batch.succeeded(delivery):
                order.setdefault(delivery.group, []).append(delivery.body)
    return order


def deliveries_of(batches: Sequence[Batch]) -> dict[str, list[tuple[Batch, Delivery]]]:
    """Every delivery of each body, in processing order."""
    seen: dict[str, list[tuple[Batch, Delivery]]] = {}
    for batch in in_order(batches):
        for delivery in batch.records:
            seen.setdefault(delivery.body, []).append((batch, delivery))
    return seen


def done(batches: Sequence[Batch], bodies: set[str]) -> bool:
    ok = {d.body for b in batches for d in b.records if b.succeeded(d)}
    return bodies <= ok


def check_group_order(batches: Sequence[Batch], sent: dict[str, list[str]]) -> None:
    order = successes_by_group(batches)
    for group, bodies in sent.items():
        if order.get(group, []) != bodies:
            raise Differs(f"group {group} processed as {order.get(group, [])}, AWS keeps its send order {bodies}")


def check_redelivered_after_failure(batches: Sequence[Batch], what: str) -> int:
    """Every record that failed (reported, or in a batch whose function raised) is delivered again
    later; every record that succeeded is never delivered again. Returns the failed deliveries seen."""
    failed = 0
    for body, history in deliveries_of(batches).items():
        for position, (batch, delivery) in enumerate(history):
            later = history[position + 1 :]
            if batch.succeeded(delivery) and later:
                raise Differs(f"{body} succeeded and was delivered again; AWS deletes a record that succeeded")
            if not batch.succeeded(delivery):
                failed += 1
                if not later:
                    raise Differs(f"{body} failed ({what}) and was not delivered again; AWS redelivers it")
    return failed


def collect(p: Probe, stack: FidelityStack, bodies: set[str], timeout_s: float = COLLECT_TIMEOUT_S) -> list[Batch]:
    """The recorded batches holding any of ``bodies``, read until each was processed without failing
    (or ``timeout_s`` passed: then what was recorded so far)."""
    batches: list[Batch] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not done(batches, bodies):
        messages = p.receive(stack.log_queue_url, 10, wait=1)
        for message in messages:
            batch = Batch.from_log(json.loads(message["Body"]))
            if any(d.body in bodies for d in batch.records):
                batches.append(batch)
        if messages:
            p.sqs.delete_message_batch(
                QueueUrl=stack.log_queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
    return batches


def send_groups(p: Probe, stack: FidelityStack, sent: dict[str, list[str]]) -> None:
    """Send the groups' bodies interleaved (g1-m1, g2-m1, ..., g1-m2, ...), each group in its own order."""
    longest = max(len(bodies) for bodies in sent.values())
    for n in range(longest):
        for group, bodies in sent.items():
            if n < len(bodies):
                p.send(stack.batch_queue_url, bodies[n], group=group, dedup=uuid.uuid4().hex)


def _scenario(p: Probe, shape: dict[str, list[str]]) -> tuple[FidelityStack, dict[str, list[str]], list[Batch]]:
    """Send ``shape`` ({"g1": ["m1", "m2-fail-once"]}) under groups unique to this check; the batches."""
    stack = shared_fidelity_stack(p)
    tag = p.unique_name()
    sent = {f"{tag}-{g}": [f"{tag}-{g}-{m}" for m in ms] for g, ms in shape.items()}
    send_groups(p, stack, sent)
    bodies = {b for bs in sent.values() for b in bs}
    batches = collect(p, stack, bodies)
    if not done(batches, bodies):
        processed = {d.body for b in batches for d in b.records if b.succeeded(d)}
        raise Differs(
            f"{len(bodies - processed)} of {len(bodies)} messages not processed within {COLLECT_TIMEOUT_S:g} s"
        )
    return stack, sent, batches


def one_batch_per_group(p: Probe) -> None:
    _, sent, batches = _scenario(p, {g: [f"m{n}" for n in range(1, 5)] for g in ("g1", "g2", "g3")})
    overlaps = overlapping_batches(batches)
    if overlaps:
        group = overlaps[0][0]
        raise Differs(
            f"two batches of group {group} in flight together ({len(overlaps)} such pairs); "
            "AWS runs one batch per group at a time"
        )
    for body, history in deliveries_of(batches).items():
        if len(history) != 1:
            counts = [d.receive_count for _, d in history]
            ran = [round(b.ended - b.started, 1) for b, _ in history]
            raise Differs(
                f"{body} delivered {len(history)} times with no failure (receive counts {counts}, batches ran {ran} s "
                f"of a {VISIBILITY_TIMEOUT_S} s visibility timeout); AWS delivers it once"
            )
    check_group_order(batches, sent)


def partial_batch_failure(p: Probe) -> None:
    _, sent, batches = _scenario(p, {"ga": ["m1", "m2-fail-once", "m3", "m4"], "gb": ["m1", "m2"]})
    if check_redelivered_after_failure(batches, "reported in batchItemFailures") == 0:
        raise Differs("no delivery was reported failed: the scenario did not run")
    check_group_order(batches, sent)


def function_error(p: Probe) -> None:
    _, sent, batches = _scenario(p, {"gc": ["m1-crash-once", "m2", "m3"]})
    crashed = [b for b in batches if b.crashed]
    if not crashed:
        raise Differs("no batch failed: the scenario did not run")
    check_redelivered_after_failure(batches, "the function raised")
    check_group_order(batches, sent)


BEHAVIOURS = [
    Behaviour(
        "esm-fifo-one-batch-per-group-in-order",
        AREA,
        "a FIFO mapping never has two batches of one message group in flight, and processes each group in send order",
        f"{WITH_SQS_DOC} (FIFO: in order per message group); {SCALING_DOC}; "
        f"{LOCALSTACK_SQS_ESM}::test_fifo_message_group_parallelism (AWS-validated)",
        one_batch_per_group,
    ),
    Behaviour(
        "esm-partial-batch-failure-redelivers",
        AREA,
        "with ReportBatchItemFailures the records not reported are deleted and the reported ones (on FIFO the failed "
        "record and its later group-mates) come back, in group order",
        f"{PARTIAL_DOC}; {LOCALSTACK_SQS_ESM}::test_report_batch_item_failures (AWS-validated)",
        partial_batch_failure,
    ),
    Behaviour(
        "esm-function-error-redelivers-batch",
        AREA,
        "a function error fails the whole batch: every record of it is delivered again, group order kept",
        f"{WITH_SQS_DOC}; {LOCALSTACK_SQS_ESM}::test_failing_lambda_retries_after_visibility_timeout (AWS-validated)",
        function_error,
    ),
]
