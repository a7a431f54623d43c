"""hookstack's event plane against a real (patched) MiniStack: SQS → Lambda mappings as Lambda runs them.

Each test deploys its own small CloudFormation stack (queue, DLQ, records table, the recorder
function of ``event_plane_handlers/``, one event source mapping) into one emulator for the module,
starts ``python -m stack.embedded.event_plane`` for it, sends messages and reads back what the
function recorded: every delivery, in the order the function saw them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from stack.embedded.emulator import MiniStackProcess
from stack.embedded.event_plane import claims
from stack.embedded.event_plane.plane import read_stats
from stack.embedded.event_plane.process import EventPlaneProcess, launch

pytestmark = pytest.mark.integration

RECORDER = (Path(__file__).parent / "event_plane_handlers" / "recorder.py").read_text()
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/event-plane-test"
WAIT_S = 60.0  # upper bound of any wait for the plane to finish a test's messages


@pytest.fixture(scope="module")
def ministack() -> Iterator[str]:
    with MiniStackProcess(patched=True) as process:
        yield process.endpoint_url


def _client(endpoint_url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def template(
    name: str,
    *,
    fifo: bool = True,
    batch_size: int = 10,
    maximum_concurrency: int = 5,
    window_s: int = 0,
    # Generous by default: on a loaded 2-core machine a batch must not time out (and come back,
    # count a receive, reach the DLQ) unless a test asks for it.
    visibility_s: int = 6,
    timeout_s: int = 6,
    max_receive: int = 5,
) -> dict[str, Any]:
    suffix = ".fifo" if fifo else ""
    fifo_props: dict[str, Any] = {"FifoQueue": True} if fifo else {}
    mapping: dict[str, Any] = {
        "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
        "FunctionName": {"Ref": "Recorder"},
        "BatchSize": batch_size,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": maximum_concurrency},
    }
    if window_s:
        mapping["MaximumBatchingWindowInSeconds"] = window_s
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Records": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": f"{name}-records",
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                    ],
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                },
            },
            "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-dlq{suffix}", **fifo_props}},
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "QueueName": f"{name}-queue{suffix}",
                    "VisibilityTimeout": visibility_s,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
                        "maxReceiveCount": max_receive,
                    },
                    **fifo_props,
                },
            },
            "Recorder": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": f"{name}-recorder",
                    "Runtime": "python3.12",
                    "Handler": "index.handler",
                    "Role": ROLE,
                    "Timeout": timeout_s,
                    "Code": {"ZipFile": RECORDER},
                    "Environment": {"Variables": {"TABLE": {"Ref": "Records"}}},
                },
            },
            "Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": mapping},
        },
        "Outputs": {
            "QueueUrl": {"Value": {"Ref": "Queue"}},
            "DlqUrl": {"Value": {"Ref": "Dlq"}},
            "Table": {"Value": {"Ref": "Records"}},
            "Mapping": {"Value": {"Ref": "Mapping"}},
        },
    }


@dataclass
class MappedStack:
    name: str
    endpoint_url: str
    queue_url: str
    dlq_url: str
    table: str
    mapping_uuid: str
    fifo: bool
    plane: EventPlaneProcess | None = None

    def sqs(self) -> Any:
        return _client(self.endpoint_url, "sqs")

    def send(self, group: str, seq: int, **body: Any) -> None:
        message: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MessageBody": json.dumps({"group": group, "seq": seq, **body}),
        }
        if self.fifo:
            message["MessageGroupId"] = group
            message["MessageDeduplicationId"] = f"{group}-{seq}-{uuid.uuid4().hex}"
        self.sqs().send_message(**message)

    def deliveries(self) -> list[dict[str, Any]]:
        return [item for item in self._items() if item["pk"] != "failed-batch"]

    def failed_batches(self) -> list[dict[str, Any]]:
        return [item for item in self._items() if item["pk"] == "failed-batch"]

    def _items(self) -> list[dict[str, Any]]:
        table = boto3.resource(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).Table(self.table)
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        for _ in range(100):
            page = table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(items, key=lambda item: (item["pk"], item["sk"]))

    def applied_by_group(self) -> dict[str, list[int]]:
        applied: dict[str, list[int]] = defaultdict(list)
        for item in self.deliveries():
            if item.get("applied"):
                applied[item["pk"]].append(int(item["seq"]))
        return dict(applied)

    def depth(self, url: str | None = None) -> int:
        attributes = self.sqs().get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def stats(self) -> dict[str, Any]:
        assert self.plane is not None
        stats = read_stats(self.plane.stats_file)
        assert stats is not None, "the event plane wrote no stats"
        return stats["mappings"]["Mapping"]  # type: ignore[no-any-return]

    def set_enabled(self, enabled: bool) -> None:
        _client(self.endpoint_url, "lambda").update_event_source_mapping(UUID=self.mapping_uuid, Enabled=enabled)

    def queue_then_release(self, send: Callable[[], None]) -> None:
        """Send with the mapping disabled, then enable it: the plane meets the whole backlog at
        once (sent one by one into a running plane, messages are taken as they come, a batch at a time)."""
        self.set_enabled(False)
        wait_until(lambda: self.stats()["enabled"] is False, timeout_s=10, what="the plane saw the disable")
        send()
        self.set_enabled(True)


def wait_until(predicate: Callable[[], bool], timeout_s: float = WAIT_S, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} not reached within {timeout_s:.0f} s")


@pytest.fixture
def mapped_stack(ministack: str, tmp_path: Path) -> Iterator[Callable[..., MappedStack]]:
    started: list[MappedStack] = []
    cloudformation = _client(ministack, "cloudformation")

    def deploy(*, plane: bool = True, **settings: Any) -> MappedStack:
        name = f"ep{uuid.uuid4().hex[:8]}"
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template(name, **settings)))
        deadline = time.monotonic() + 60
        while True:
            described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
            if described["StackStatus"].endswith("_COMPLETE") or described["StackStatus"].endswith("_FAILED"):
                break
            assert time.monotonic() < deadline, f"stack {name} still {described['StackStatus']}"
            time.sleep(0.2)
        assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
        stack = MappedStack(
            name=name,
            endpoint_url=ministack,
            queue_url=outputs["QueueUrl"],
            dlq_url=outputs["DlqUrl"],
            table=outputs["Table"],
            mapping_uuid=outputs["Mapping"],
            fifo=settings.get("fifo", True),
        )
        if plane:
            stack.plane = launch(ministack, name, tmp_path / name / "logs", tmp_path / name / "state")
        started.append(stack)
        return stack

    yield deploy
    for stack in started:
        if stack.plane is not None:
            stack.plane.stop()
            assert not stack.plane.alive()


def assert_in_order(applied: dict[str, list[int]], per_group: dict[str, int]) -> None:
    """Every group's messages applied exactly once each, in the order they were sent."""
    for group, count in per_group.items():
        assert applied.get(group) == list(range(count)), f"group {group}: applied {applied.get(group)}"


# --- ordering, partial failures, retries -----------------------------------------------------


def test_groups_are_processed_concurrently_in_order_across_retries(mapped_stack):
    stack = mapped_stack(maximum_concurrency=4, visibility_s=4, timeout_s=4)
    groups = {f"g{i}": 12 for i in range(6)}

    def send() -> None:
        # Group by group: the emulator fills a batch in send order, and a batch that spans every
        # group would leave nothing for a second one (AWS fills batches group by group).
        for group in groups:
            for seq in range(12):
                action = None
                if (group, seq) in {("g0", 3), ("g2", 7), ("g5", 0)}:
                    action = "fail"  # a batch item failure: this record and its group's later ones come back
                elif (group, seq) == ("g4", 5):
                    action = "raise"  # the whole batch comes back
                stack.send(group, seq, action=action, hold=0.02)

    stack.queue_then_release(send)
    wait_until(lambda: stack.applied_by_group() == {g: list(range(n)) for g, n in groups.items()}, what="all applied")
    assert_in_order(stack.applied_by_group(), groups)
    stats = {k: v for k, v in stack.stats().items() if k != "timeline"}
    assert stats["records_retried"] >= 4, stats  # 3 item failures + at least the raising record's batch
    assert stats["batches_failed"].get("function error") == 1, stats
    assert 2 <= stats["peak_in_flight_batches"] <= 4, stats
    wait_until(lambda: stack.depth() == 0, what="an empty queue")


def test_a_poisoned_record_holds_only_its_own_group(mapped_stack):
    # One record a batch: records behind the poison in its batch would be failed with it (to keep
    # the group's order) and reach maxReceiveCount too, as they do on AWS.
    stack = mapped_stack(batch_size=1, maximum_concurrency=4, visibility_s=3, timeout_s=3, max_receive=3)
    groups = {f"g{i}": 8 for i in range(4)}

    def send() -> None:
        for seq in range(8):
            for group in groups:
                stack.send(group, seq, action="poison" if (group, seq) == ("g0", 2) else None)

    stack.queue_then_release(send)
    others = {g: list(range(n)) for g, n in groups.items() if g != "g0"}
    wait_until(
        lambda: {g: s for g, s in stack.applied_by_group().items() if g != "g0"} == others,
        what="the other groups applied",
    )
    # Dead-lettered after its third failed receive, then the rest of g0 follows in order.
    wait_until(lambda: stack.applied_by_group().get("g0") == [0, 1, 3, 4, 5, 6, 7], what="g0 after the poison")
    assert stack.depth(stack.dlq_url) == 1
    deliveries = stack.deliveries()
    other_done = max(d["sk"] for d in deliveries if d["pk"] != "g0" and d.get("applied"))
    g0_resumed = min(d["sk"] for d in deliveries if d["pk"] == "g0" and int(d["seq"]) == 3)
    assert other_done < g0_resumed, "the other groups waited for g0's poisoned record"


def test_a_crashed_or_timed_out_batch_is_redelivered_whole(mapped_stack):
    stack = mapped_stack(maximum_concurrency=2, visibility_s=3, timeout_s=1)
    groups = {"crash": 5, "sleep": 5}
    # One after the other: a batch holding both would fail for the first and never meet the second.
    for seq in range(5):
        stack.send("crash", seq, action="crash" if seq == 1 else None)
    wait_until(lambda: stack.applied_by_group().get("crash") == list(range(5)), what="the crashed batch applied")
    for seq in range(5):
        stack.send("sleep", seq, action="sleep" if seq == 2 else None, seconds=3)
    wait_until(lambda: stack.applied_by_group() == {g: list(range(n)) for g, n in groups.items()}, what="all applied")
    assert_in_order(stack.applied_by_group(), groups)
    # Each failed batch came back whole: every message it held was applied on a later receive.
    failed = stack.failed_batches()
    assert sorted(b["action"] for b in failed) == ["crash", "sleep"]
    applied_again = {d["message_id"] for d in stack.deliveries() if d["applied"] and int(d["receive_count"]) >= 2}
    for batch in failed:
        assert set(batch["message_ids"]) <= applied_again, batch
    by_cause = stack.stats()["batches_failed"]
    assert by_cause.get("crash", 0) >= 1 and by_cause.get("timeout", 0) >= 1, by_cause


# --- scaling and control ----------------------------------------------------------------------


@pytest.mark.parametrize("maximum_concurrency", [2, 5])
def test_maximum_concurrency_caps_batches_in_flight(mapped_stack, maximum_concurrency):
    stack = mapped_stack(batch_size=1, maximum_concurrency=maximum_concurrency)
    groups = {f"g{i}": 3 for i in range(12)}
    stack.queue_then_release(lambda: [stack.send(group, seq, hold=0.3) for seq in range(3) for group in groups])
    wait_until(lambda: stack.applied_by_group() == {g: list(range(n)) for g, n in groups.items()}, what="all applied")
    stats = stack.stats()
    assert 2 <= stats["peak_in_flight_batches"] <= maximum_concurrency, stats["peak_in_flight_batches"]
    assert stats["peak_in_flight_groups"] <= maximum_concurrency


def test_a_disabled_mapping_consumes_nothing(mapped_stack):
    stack = mapped_stack()
    stack.set_enabled(False)
    wait_until(lambda: stack.stats()["enabled"] is False, timeout_s=10, what="the plane saw the disable")
    for seq in range(5):
        stack.send("g", seq)
    time.sleep(3.0)  # several long polls' worth: a consuming plane would have taken them by now
    assert stack.deliveries() == []
    assert stack.depth() == 5
    stack.set_enabled(True)
    wait_until(lambda: stack.applied_by_group() == {"g": list(range(5))}, what="all applied after enabling")


def test_a_standard_queue_fills_batches_within_the_window(mapped_stack):
    stack = mapped_stack(fifo=False, batch_size=25, window_s=2, maximum_concurrency=2)
    sqs = stack.sqs()
    for start in range(0, 20, 10):
        sqs.send_message_batch(
            QueueUrl=stack.queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"group": "s", "seq": i})} for i in range(start, start + 10)
            ],
        )
    wait_until(lambda: len(stack.deliveries()) == 20, what="all 20 delivered")
    batches = defaultdict(int)
    for delivery in stack.deliveries():
        batches[delivery["batch"]] += 1
    assert max(batches.values()) > 10, (
        f"batch sizes {sorted(batches.values())}: the window gathered no more than one receive"
    )


# --- the emulator's own poller --------------------------------------------------------------


def test_the_emulator_leaves_a_claimed_mapping_alone(mapped_stack):
    stack = mapped_stack(plane=False)
    lambda_client = _client(stack.endpoint_url, "lambda")
    arn = lambda_client.get_event_source_mapping(UUID=stack.mapping_uuid)["EventSourceMappingArn"]
    claims.claim(lambda_client, arn)
    stack.send("g", 0)
    time.sleep(3.0)  # MiniStack's poller wakes within a second when a message arrives
    assert stack.deliveries() == [], "MiniStack consumed a mapping claimed by the event plane"
    claims.release(lambda_client, arn)
    wait_until(lambda: stack.applied_by_group() == {"g": [0]}, what="MiniStack's poller took it back")
