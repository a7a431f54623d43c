"""Forty SQS FIFO behaviours as AWS shows them, each checked with plain boto3 calls.

Re-expressed from LocalStack's AWS-validated SQS tests (``tests/aws/services/sqs/test_sqs.py``,
``@markers.aws.validated``, with their recorded AWS snapshots) and from the SQS documentation.
Bodies are named ``g<group>-m<n>`` so a received order reads as what it is. Where AWS leaves the
order between groups open (the validated tests accept several), the check asks only that each
group comes back in one piece and in its own order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from stack.fidelity.behaviour import Behaviour, Differs
from stack.fidelity.probe import Probe, error_code

AREA = "sqs-fifo"
BEHAVIOURS: list[Behaviour] = []

SEND_DOC = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html"
CREATE_DOC = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"
SET_DOC = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html"
BATCH_DOC = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html"
HIGH_THROUGHPUT_DOC = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/high-throughput-fifo.html"
)
DLQ_DOC = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html"


def validated(test: str) -> str:
    return f"LocalStack test_sqs.py::TestSqsProvider::{test} (AWS-validated)"


def behaviour(id: str, statement: str, source: str) -> Callable[[Callable[[Probe], None]], Callable[[Probe], None]]:
    def register(check: Callable[[Probe], None]) -> Callable[[Probe], None]:
        BEHAVIOURS.append(Behaviour(id, AREA, statement, source, check))
        return check

    return register


def _only(messages: list[dict[str, Any]], what: str) -> dict[str, Any]:
    if len(messages) != 1:
        raise Differs(f"{what}: received {len(messages)} messages, AWS returns exactly 1")
    return messages[0]


def _grouped(bodies: list[str], expected: list[str]) -> None:
    """Each group in one piece, in its own order, and exactly the expected messages."""
    if sorted(bodies) != sorted(expected):
        raise Differs(f"received {bodies}, AWS returns {sorted(expected)} in some group order")
    order: list[str] = []
    for body in bodies:
        group = body.split("-")[0]
        if order and order[-1] == group:
            continue
        if group in order:
            raise Differs(f"received {bodies}: group {group} interleaved with others, AWS returns it in one piece")
        order.append(group)
    for group in order:
        members = [b for b in bodies if b.split("-")[0] == group]
        if members != [b for b in expected if b.split("-")[0] == group]:
            raise Differs(f"received {bodies}: group {group} out of its send order")


# ── deduplication ────────────────────────────────────────────────────────────


@behaviour(
    "fifo-dedup-explicit-id",
    "a second send with the same MessageDeduplicationId is accepted, answered with the first MessageId, not delivered",
    f"{validated('test_fifo_deduplication_arrives_once_after_delete')}; {SEND_DOC}",
)
def dedup_explicit_id(p: Probe) -> None:
    url = p.queue()
    first = p.send(url, "g1-m1", "g1", "same")
    second = p.send(url, "g1-m2", "g1", "same")
    p.expect_equal("MessageId of the duplicate", second["MessageId"], first["MessageId"])
    p.expect_equal("received", p.bodies(url), ["g1-m1"])


@behaviour(
    "fifo-dedup-content-based",
    "with ContentBasedDeduplication the same body sent twice is delivered once",
    validated("test_fifo_content_based_message_deduplication_arrives_once"),
)
def dedup_content_based(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true")
    p.send(url, '{"foo": "bar"}', "g1")
    p.send(url, '{"foo": "bar"}', "g1")
    p.expect_equal("messages received", len(p.receive(url)), 1)


@behaviour(
    "fifo-dedup-survives-delete",
    "a duplicate sent after the first message was received and deleted is still dropped",
    validated("test_fifo_deduplication_arrives_once_after_delete"),
)
def dedup_survives_delete(p: Probe) -> None:
    url = p.queue()
    p.send(url, "g1-m1", "g1", "dedup1")
    message = _only(p.receive(url), "the first message")
    p.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    p.send(url, "g1-m1", "g1", "dedup1")
    p.expect_equal("received after re-sending", p.bodies(url, wait=1), [])


@behaviour(
    "fifo-dedup-queue-scope-spans-groups",
    "with the default DeduplicationScope (queue) a dedup id seen in one group drops the send in another",
    validated("test_fifo_deduplication_not_on_message_group_id"),
)
def dedup_queue_scope(p: Probe) -> None:
    url = p.queue()
    p.send(url, "g1-m1", "g1", "dedup1")
    p.send(url, "g2-m1", "g2", "dedup1")
    p.expect_equal("received", p.bodies(url), ["g1-m1"])


@behaviour(
    "fifo-dedup-message-group-scope",
    "with DeduplicationScope=messageGroup the same dedup id in two groups gives two messages",
    HIGH_THROUGHPUT_DOC,
)
def dedup_group_scope(p: Probe) -> None:
    url = p.queue(DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    p.send(url, "g1-m1", "g1", "dedup1")
    p.send(url, "g2-m1", "g2", "dedup1")
    p.expect_equal("received", sorted(p.drain(url)), ["g1-m1", "g2-m1"])


@behaviour(
    "fifo-purge-clears-dedup",
    "PurgeQueue clears the deduplication cache: a dedup id sent before the purge is accepted again",
    validated("test_purge_queue_clears_fifo_deduplication_cache"),
)
def purge_clears_dedup(p: Probe) -> None:
    url = p.queue()
    p.send(url, "g1-m1", "g1", "dedup1")
    p.sqs.purge_queue(QueueUrl=url)
    p.send(url, "g1-m2", "g1", "dedup1")
    p.expect_equal("received after the purge", p.bodies(url, wait=1), ["g1-m2"])


@behaviour(
    "fifo-boolean-attributes-any-case",
    'ContentBasedDeduplication "True" is read as true (sends without a dedup id are accepted)',
    f"{CREATE_DOC}; measured against AWS in the project's emulator notes",
)
def boolean_any_case(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="True")
    try:
        p.send(url, "g1-m1", "g1")
    except Exception as exc:  # noqa: BLE001 - any refusal is the difference
        raise Differs(f'"True" not read as true: the send without a dedup id failed ({exc})') from None
    value = p.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ContentBasedDeduplication"])["Attributes"]
    p.expect_equal("ContentBasedDeduplication read back", value.get("ContentBasedDeduplication"), "true")


@behaviour(
    "fifo-dedup-id-required",
    "without ContentBasedDeduplication a send without MessageDeduplicationId fails with InvalidParameterValue",
    validated("test_posting_to_fifo_requires_deduplicationid_group_id"),
)
def dedup_id_required(p: Probe) -> None:
    url = p.queue()
    p.expect_error(p.sqs.send_message, "InvalidParameterValue", QueueUrl=url, MessageBody="x", MessageGroupId="g1")


# ── id formats ───────────────────────────────────────────────────────────────


@behaviour(
    "fifo-group-id-required",
    "a send to a FIFO queue without MessageGroupId fails with MissingParameter",
    validated("test_posting_to_fifo_requires_deduplicationid_group_id"),
)
def group_id_required(p: Probe) -> None:
    url = p.queue()
    p.expect_error(p.sqs.send_message, "MissingParameter", QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")


def _bad_id(p: Probe, parameter: str, value: str) -> None:
    url = p.queue()
    params = {"QueueUrl": url, "MessageBody": "x", "MessageGroupId": "g1", "MessageDeduplicationId": "d1"}
    params[parameter] = value
    p.expect_error(p.sqs.send_message, "InvalidParameterValue", **params)


@behaviour(
    "fifo-dedup-id-charset",
    "a MessageDeduplicationId outside alphanumerics and punctuation (a space) fails with InvalidParameterValue",
    SEND_DOC,
)
def dedup_id_charset(p: Probe) -> None:
    _bad_id(p, "MessageDeduplicationId", "not allowed")


@behaviour(
    "fifo-dedup-id-length",
    "a MessageDeduplicationId longer than 128 characters fails with InvalidParameterValue",
    SEND_DOC,
)
def dedup_id_length(p: Probe) -> None:
    _bad_id(p, "MessageDeduplicationId", "d" * 129)


@behaviour(
    "fifo-group-id-charset",
    "a MessageGroupId outside alphanumerics and punctuation (a space) fails with InvalidParameterValue",
    SEND_DOC,
)
def group_id_charset(p: Probe) -> None:
    _bad_id(p, "MessageGroupId", "not allowed")


@behaviour(
    "fifo-group-id-length",
    "a MessageGroupId longer than 128 characters fails with InvalidParameterValue",
    SEND_DOC,
)
def group_id_length(p: Probe) -> None:
    _bad_id(p, "MessageGroupId", "g" * 129)


# ── ordering ─────────────────────────────────────────────────────────────────


@behaviour(
    "fifo-order-within-group",
    "single receives return one group's messages in send order",
    validated("test_fifo_queue_send_multiple_messages_multiple_single_receives"),
)
def order_within_group(p: Probe) -> None:
    url = p.queue()
    for i in range(4):
        p.send(url, f"g1-m{i + 1}", "g1", f"d{i}")
    got = []
    for _ in range(4):
        messages = p.receive(url, 1)
        if not messages:
            break
        got.append(messages[0]["Body"])
        p.sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    p.expect_equal("received", got, ["g1-m1", "g1-m2", "g1-m3", "g1-m4"])


@behaviour(
    "fifo-order-after-visibility-timeout",
    "after the visibility timeout a group comes back whole and in send order",
    validated("test_fifo_messages_in_order_after_timeout"),
)
def order_after_timeout(p: Probe) -> None:
    url = p.queue(VisibilityTimeout="1")
    for i in range(3):
        p.send(url, f"g1-m{i + 1}", "g1", f"d{i}")
    p.expect_equal("first receive", p.bodies(url), ["g1-m1", "g1-m2", "g1-m3"])
    time.sleep(2)
    p.expect_equal("receive after the timeout", p.bodies(url), ["g1-m1", "g1-m2", "g1-m3"])


@behaviour(
    "fifo-receive-keeps-groups-together",
    "one receive returns a group's messages together, even when another group's were sent in between",
    validated("test_fifo_receive_message_group_id_ordering"),
)
def groups_together(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true")
    p.send_groups(url, ["g1-m1", "g2-m1", "g1-m2", "g1-m3"])
    p.expect_equal("received", p.bodies(url), ["g1-m1", "g1-m2", "g1-m3", "g2-m1"])


@behaviour(
    "fifo-sequence-number",
    "a FIFO send answers with a SequenceNumber, increasing per send; a standard send has none",
    f"{validated('test_sequence_number')}; {validated('test_fifo_sequence_number_increases')}",
)
def sequence_number(p: Probe) -> None:
    url = p.queue()
    numbers = [p.send(url, f"g1-m{i}", "g1", f"d{i}").get("SequenceNumber") for i in range(1, 3)]
    if not all(numbers):
        raise Differs(f"FIFO send answered without SequenceNumber: {numbers}")
    if int(numbers[0] or 0) >= int(numbers[1] or 0):
        raise Differs(f"SequenceNumber did not increase: {numbers}")
    standard = p.queue(fifo=False)
    if "SequenceNumber" in p.send(standard, "x"):
        raise Differs("a standard queue's send answered with a SequenceNumber")


@behaviour(
    "fifo-per-message-delay-rejected",
    "a per-message DelaySeconds on a FIFO queue fails with InvalidParameterValue",
    validated("test_fifo_queue_send_message_with_delay_seconds_fails"),
)
def per_message_delay(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true")
    p.expect_error(
        p.sqs.send_message, "InvalidParameterValue", QueueUrl=url, MessageBody="x", MessageGroupId="g1", DelaySeconds=2
    )


# ── visibility per group ─────────────────────────────────────────────────────

SIX = ["g1-m1", "g1-m2", "g1-m3", "g1-m4", "g2-m1", "g3-m1"]


@behaviour(
    "fifo-group-blocked-while-in-flight",
    "while a group has messages in flight its later messages are not returned; other groups are",
    validated("test_fifo_receive_message_visibility_timeout_shared_in_group"),
)
def blocked_in_flight(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true")
    p.send_groups(url, SIX)
    p.expect_equal("first receive of 2", p.bodies(url, 2), ["g1-m1", "g1-m2"])
    p.expect_equal("next receive of 1", p.bodies(url, 1), ["g2-m1"])


@behaviour(
    "fifo-groups-return-after-timeout",
    "once the visibility timeout ends every group is receivable again, each in one piece and in order",
    validated("test_fifo_receive_message_visibility_timeout_shared_in_group"),
)
def groups_after_timeout(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true", VisibilityTimeout="1")
    p.send_groups(url, SIX)
    p.bodies(url, 2)
    p.bodies(url, 1)
    time.sleep(2)
    _grouped(p.bodies(url, 10, visibility=0), SIX)


@behaviour(
    "fifo-zero-visibility-receive",
    "a receive with VisibilityTimeout=0 returns whole groups and leaves them receivable at once, "
    "after the groups never received",
    validated("test_fifo_receive_message_with_zero_visibility_timeout"),
)
def zero_visibility(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true")
    p.send_groups(url, ["g1-m1", "g2-m1", "g2-m2", "g3-m1", "g1-m2"])
    p.expect_equal("receive of 3", p.bodies(url, 3, visibility=0), ["g1-m1", "g1-m2", "g2-m1"])
    p.expect_equal("receive of 10", p.bodies(url, 10, visibility=0), ["g3-m1", "g1-m1", "g1-m2", "g2-m1", "g2-m2"])


THREE = ["g1-m1", "g1-m2", "g2-m1"]


@behaviour(
    "fifo-reset-visibility-frees-one-message",
    "resetting one in-flight message's visibility to 0 makes it receivable though the rest of its group is in flight",
    validated("test_fifo_message_group_visibility_after_terminate_visibility_timeout"),
)
def reset_visibility(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true", VisibilityTimeout="30")
    p.send_groups(url, THREE)
    first = p.receive(url, 2)
    p.expect_equal("first receive of 2", [m["Body"] for m in first], ["g1-m1", "g1-m2"])
    p.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0)
    p.expect_equal("receive of 3", p.bodies(url, 3, wait=1), ["g2-m1", "g1-m1"])


@behaviour(
    "fifo-changed-visibility-frees-one-message",
    "a message whose shortened visibility ran out is receivable though the rest of its group is in flight",
    validated("test_fifo_message_group_visibility_after_change_message_visibility"),
)
def changed_visibility(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true", VisibilityTimeout="30")
    p.send_groups(url, THREE)
    first = p.receive(url, 2)
    p.expect_equal("first receive of 2", [m["Body"] for m in first], ["g1-m1", "g1-m2"])
    p.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=1)
    time.sleep(2)
    p.expect_equal("receive of 3", p.bodies(url, 3), ["g2-m1", "g1-m1"])


INTERLEAVED = ["g1-m1", "g2-m1", "g1-m2", "g2-m2", "g1-m3", "g1-m4", "g3-m1"]


@behaviour(
    "fifo-group-returns-after-delete",
    "deleting a group's in-flight messages makes its next messages receivable, the group in one piece",
    validated("test_fifo_message_group_visibility_after_delete"),
)
def after_delete(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true")
    p.send_groups(url, INTERLEAVED)
    first = p.receive(url, 2)
    p.expect_equal("first receive of 2", [m["Body"] for m in first], ["g1-m1", "g1-m2"])
    for message in first:
        p.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    _grouped(p.bodies(url, 10), ["g2-m1", "g2-m2", "g1-m3", "g1-m4", "g3-m1"])


@behaviour(
    "fifo-group-blocked-after-partial-delete",
    "while one received message of a group is still in flight the group's later messages stay hidden",
    validated("test_fifo_message_group_visibility_after_partial_delete"),
)
def after_partial_delete(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true")
    p.send_groups(url, INTERLEAVED)
    first = p.receive(url, 2)
    p.expect_equal("first receive of 2", [m["Body"] for m in first], ["g1-m1", "g1-m2"])
    p.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    p.expect_equal("drain", p.bodies(url, 10), ["g2-m1", "g2-m2", "g3-m1"])


# ── receipt handles ──────────────────────────────────────────────────────────


@behaviour(
    "fifo-expired-receipt-handle",
    "deleting with a receipt handle whose visibility timeout ran out fails (InvalidParameterValue: expired)",
    validated("test_fifo_delete_message_with_expired_receipt_handle") + " and its recorded AWS snapshot",
)
def expired_receipt_handle(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true", VisibilityTimeout="1")
    p.send(url, "g1-m1", "g1")
    message = _only(p.receive(url), "the message")
    time.sleep(2)
    p.expect_error(p.sqs.delete_message, "InvalidParameterValue", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


# ── queue attributes ─────────────────────────────────────────────────────────


def _create_must_fail(p: Probe, codes: tuple[str, ...], name: str, attributes: dict[str, str]) -> None:
    try:
        url = p.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except Exception as exc:  # noqa: BLE001 - checked below
        code = error_code(exc) if hasattr(exc, "response") else type(exc).__name__
        if code not in codes:
            raise Differs(f"failed with {code}, AWS answers {' or '.join(codes)}") from None
        return
    p.track_queue(url)
    raise Differs(f"accepted; AWS refuses it with {' or '.join(codes)}")


@behaviour(
    "fifo-name-needs-suffix",
    "CreateQueue with FifoQueue=true and a name without .fifo fails with InvalidParameterValue",
    validated("test_fifo_queue_requires_suffix"),
)
def name_needs_suffix(p: Probe) -> None:
    _create_must_fail(p, ("InvalidParameterValue",), p.unique_name(), {"FifoQueue": "true"})


@behaviour(
    "fifo-suffix-needs-fifo-attribute",
    "CreateQueue of a .fifo name without FifoQueue=true fails with InvalidParameterValue",
    validated("test_standard_queue_cannot_have_fifo_suffix"),
)
def suffix_needs_attribute(p: Probe) -> None:
    _create_must_fail(p, ("InvalidParameterValue",), p.unique_name(fifo=True), {})


@behaviour(
    "standard-queue-refuses-fifo-queue-attribute",
    "SetQueueAttributes FifoQueue=true on a standard queue fails with InvalidAttributeName",
    f"{validated('test_set_unsupported_attribute_fifo')}; {SET_DOC}",
)
def standard_refuses_fifo_attribute(p: Probe) -> None:
    url = p.queue(fifo=False)
    p.expect_error(p.sqs.set_queue_attributes, "InvalidAttributeName", QueueUrl=url, Attributes={"FifoQueue": "true"})


@behaviour(
    "standard-queue-refuses-fifo-only-attributes",
    "CreateQueue of a standard queue with ContentBasedDeduplication fails with InvalidAttributeName",
    f"{CREATE_DOC} (FIFO-only attributes)",
)
def standard_refuses_fifo_only(p: Probe) -> None:
    _create_must_fail(p, ("InvalidAttributeName",), p.unique_name(), {"ContentBasedDeduplication": "true"})


@behaviour(
    "fifo-queue-attribute-immutable",
    "SetQueueAttributes FifoQueue=false on a FIFO queue fails with InvalidAttributeValue (true is accepted)",
    f"{validated('test_set_unsupported_attribute_fifo')}; {SET_DOC}",
)
def fifo_attribute_immutable(p: Probe) -> None:
    url = p.queue()
    p.sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"})
    p.expect_error(p.sqs.set_queue_attributes, "InvalidAttributeValue", QueueUrl=url, Attributes={"FifoQueue": "false"})
    fifo = p.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["FifoQueue"])["Attributes"].get("FifoQueue")
    p.expect_equal("FifoQueue after the refused change", fifo, "true")


@behaviour(
    "fifo-throughput-attributes-read",
    "GetQueueAttributes All on a new FIFO queue includes DeduplicationScope=queue and FifoThroughputLimit=perQueue",
    validated("test_fifo_set_content_based_deduplication_strategy") + " (recorded AWS snapshot)",
)
def throughput_attributes(p: Probe) -> None:
    url = p.queue()
    attributes = p.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    got = {name: attributes.get(name) for name in ("DeduplicationScope", "FifoThroughputLimit")}
    p.expect_equal(
        "high-throughput attributes", got, {"DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"}
    )


@behaviour(
    "fifo-create-conflicting-attributes",
    "CreateQueue of an existing FIFO name with a different ContentBasedDeduplication fails (QueueAlreadyExists)",
    validated("test_create_fifo_queue_with_different_attributes_raises_error"),
)
def create_conflicting(p: Probe) -> None:
    name = p.unique_name(fifo=True)
    url = p.sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})
    p.track_queue(url["QueueUrl"])
    p.expect_error(
        p.sqs.create_queue,
        "QueueAlreadyExists",
        "QueueNameExists",
        QueueName=name,
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
    )


# ── batches ──────────────────────────────────────────────────────────────────


def _batch_refused_whole(p: Probe, entries: list[dict[str, str]]) -> None:
    url = p.queue()
    try:
        result = p.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    except Exception as exc:  # noqa: BLE001 - the refusal AWS gives
        if not hasattr(exc, "response"):
            raise
    else:
        raise Differs(
            f"answered per entry ({len(result.get('Successful', []))} sent, {len(result.get('Failed', []))} failed); "
            "AWS refuses the whole request"
        )
    p.expect_equal("messages queued after the refusal", p.bodies(url), [])


@behaviour(
    "fifo-batch-missing-dedup-id-refused",
    "a SendMessageBatch with one entry lacking a dedup id (no content-based dedup) is refused whole",
    f"{validated('test_send_batch_missing_deduplication_id_for_fifo_queue')}; {BATCH_DOC}",
)
def batch_missing_dedup(p: Probe) -> None:
    _batch_refused_whole(
        p,
        [
            {"Id": "a", "MessageBody": "g1-m1", "MessageGroupId": "g1", "MessageDeduplicationId": "d1"},
            {"Id": "b", "MessageBody": "g1-m2", "MessageGroupId": "g1"},
        ],
    )


@behaviour(
    "fifo-batch-missing-group-id-refused",
    "a SendMessageBatch with one entry lacking MessageGroupId is refused whole",
    "LocalStack test_sqs.py::TestSqsProvider::test_send_batch_missing_message_group_id_for_fifo_queue "
    f"(parity, AWS-validated); {BATCH_DOC}",
)
def batch_missing_group(p: Probe) -> None:
    _batch_refused_whole(
        p,
        [
            {"Id": "a", "MessageBody": "g1-m1", "MessageGroupId": "g1", "MessageDeduplicationId": "d1"},
            {"Id": "b", "MessageBody": "g1-m2", "MessageDeduplicationId": "d2"},
        ],
    )


@behaviour(
    "fifo-batch-invalid-entry-id",
    "a batch entry Id with a character outside [A-Za-z0-9_-] fails the request with InvalidBatchEntryId",
    validated("test_invalid_batch_id"),
)
def batch_invalid_entry_id(p: Probe) -> None:
    url = p.queue()
    entry = {"Id": "message:1", "MessageBody": "x", "MessageGroupId": "g1", "MessageDeduplicationId": "d1"}
    p.expect_error(p.sqs.send_message_batch, "InvalidBatchEntryId", QueueUrl=url, Entries=[entry])


# ── received attributes and redrive ──────────────────────────────────────────


@behaviour(
    "fifo-receive-system-attributes",
    "a received FIFO message carries MessageGroupId, MessageDeduplicationId, SequenceNumber and a rising receive count",
    validated("test_fifo_message_attributes") + " (recorded AWS snapshot)",
)
def receive_system_attributes(p: Probe) -> None:
    url = p.queue(ContentBasedDeduplication="true", VisibilityTimeout="0")
    sent = p.send(url, "message-body-1", "group-1", "dedup-1")
    counts = []
    for _ in range(2):
        message = _only(p.receive(url, 1, attributes=True), "the message (VisibilityTimeout=0)")
        attributes = message.get("Attributes", {})
        want = {
            "MessageGroupId": "group-1",
            "MessageDeduplicationId": "dedup-1",
            "SequenceNumber": sent["SequenceNumber"],
        }
        p.expect_equal("system attributes", {k: attributes.get(k) for k in want}, want)
        counts.append(attributes.get("ApproximateReceiveCount"))
    p.expect_equal("ApproximateReceiveCount over two receives", counts, ["1", "2"])


def _dead_lettered(p: Probe) -> tuple[dict, str, str]:
    """A message received past maxReceiveCount 2: (what the DLQ returned, source ARN, MessageId)."""
    dlq = p.queue(ContentBasedDeduplication="true")
    source = p.queue(
        ContentBasedDeduplication="true",
        VisibilityTimeout="60",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": p.arn(dlq), "maxReceiveCount": 2}),
    )
    message_id = p.send(source, "foobar", "g1")["MessageId"]
    for _ in range(3):
        p.receive(source, 1, visibility=0, wait=1)
    messages = p.receive(dlq, 1, wait=2, attributes=True)
    if not messages:
        raise Differs("no message in the dead-letter queue after 3 receives with maxReceiveCount 2")
    return messages[0], p.arn(source), message_id


@behaviour(
    "fifo-redrive-after-max-receives",
    "a FIFO message received maxReceiveCount times moves to the FIFO dead-letter queue with its MessageId",
    f"{validated('test_dead_letter_queue_with_fifo_and_content_based_deduplication')}; {DLQ_DOC}",
)
def redrive(p: Probe) -> None:
    message, _, message_id = _dead_lettered(p)
    p.expect_equal("dead-lettered MessageId", message["MessageId"], message_id)
    p.expect_equal("dead-lettered body", message["Body"], "foobar")


@behaviour(
    "fifo-dlq-lists-source-queues",
    "ListDeadLetterSourceQueues on a FIFO dead-letter queue names the queue that redrives to it",
    f"{validated('test_dead_letter_queue_list_sources')}; {DLQ_DOC}",
)
def dlq_lists_sources(p: Probe) -> None:
    dlq = p.queue()
    source = p.queue(RedrivePolicy=json.dumps({"deadLetterTargetArn": p.arn(dlq), "maxReceiveCount": 5}))
    try:
        urls = p.sqs.list_dead_letter_source_queues(QueueUrl=dlq).get("queueUrls", [])
    except Exception as exc:  # noqa: BLE001 - an action the target does not serve is the difference
        code = error_code(exc) if hasattr(exc, "response") else type(exc).__name__
        raise Differs(f"ListDeadLetterSourceQueues failed with {code}") from None
    names = [url.rsplit("/", 1)[-1] for url in urls]
    p.expect_equal("source queues", names, [source.rsplit("/", 1)[-1]])


@behaviour(
    "fifo-dead-letter-source-arn",
    "a dead-lettered message carries DeadLetterQueueSourceArn, the ARN of the queue it came from",
    DLQ_DOC,
)
def dead_letter_source(p: Probe) -> None:
    message, source_arn, _ = _dead_lettered(p)
    p.expect_equal(
        "DeadLetterQueueSourceArn", message.get("Attributes", {}).get("DeadLetterQueueSourceArn"), source_arn
    )
