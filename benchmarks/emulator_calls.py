"""What each AWS call of the webhook path costs the embedded emulator, in its own CPU time.

The emulator is one Python process: every call the producer, the worker and the event plane
make lands on one core. This prints the emulator's CPU time per call (read from
``/proc/<pid>/stat`` around N calls, so the client's own cost is not counted) for the calls one
event costs, and ReceiveMessage / DeleteMessageBatch at two queue depths (their cost grows with
the number of messages queued). From these, the events/s the emulator can carry end to end.

    python benchmarks/emulator_calls.py [--calls 500] [--depth 3000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from stack.embedded.emulator import MiniStackProcess  # noqa: E402 - run as a script: the repository goes on sys.path first

TABLE = "calls"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Emulator:
    def __init__(self, process: MiniStackProcess) -> None:
        import boto3

        self.pid = process.pid
        options = {
            "endpoint_url": process.endpoint_url,
            "region_name": "us-east-1",
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
        }
        self.dynamodb = boto3.client("dynamodb", **options)
        self.sqs = boto3.client("sqs", **options)

    def cost_ms(self, calls: int, call: Callable[[int], Any]) -> dict[str, float]:
        cpu, wall = cpu_seconds(self.pid), time.perf_counter()
        for index in range(calls):
            call(index)
        return {
            "emulator_cpu_ms": round(1000 * (cpu_seconds(self.pid) - cpu) / calls, 3),
            "wall_ms": round(1000 * (time.perf_counter() - wall) / calls, 3),
        }


def fill(emulator: Emulator, queue_url: str, depth: int, tag: str) -> None:
    for start in range(0, depth, 10):
        emulator.sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": "x" * 1000,
                    "MessageGroupId": f"g{(start + i) % 50}",
                    "MessageDeduplicationId": f"{tag}-{start + i}",
                }
                for i in range(min(10, depth - start))
            ],
        )


def consume(emulator: Emulator, queue_url: str) -> Callable[[int], Any]:
    def receive_and_delete(_: int) -> None:
        messages = emulator.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            emulator.sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    return receive_and_delete


def run(calls: int, depth: int) -> dict[str, Any]:
    with MiniStackProcess(patched=True) as process:
        emulator = Emulator(process)
        emulator.dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        queue_url = emulator.sqs.create_queue(QueueName="calls.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        figures: dict[str, Any] = {}
        # The producer: status RECEIVED, then SendMessage.
        figures["UpdateItem (status)"] = emulator.cost_ms(
            calls,
            lambda i: emulator.dynamodb.update_item(
                TableName=TABLE,
                Key={"pk": {"S": f"evt{i}"}},
                UpdateExpression="SET #s = :s, received_at = :t",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":s": {"S": "RECEIVED"}, ":t": {"N": "1"}},
            ),
        )
        figures["SendMessage (1 KB, FIFO)"] = emulator.cost_ms(
            calls,
            lambda i: emulator.sqs.send_message(
                QueueUrl=queue_url, MessageBody="x" * 1000, MessageGroupId=f"g{i % 50}", MessageDeduplicationId=f"s{i}"
            ),
        )
        # The worker: one transaction (projection + status PROCESSED, conditional).
        figures["TransactWriteItems (2 updates)"] = emulator.cost_ms(
            calls,
            lambda i: emulator.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": f"projection{i % 50}"}},
                            "UpdateExpression": "SET latest = :v ADD writes :one",
                            "ExpressionAttributeValues": {":v": {"S": "x" * 200}, ":one": {"N": "1"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": {"pk": {"S": f"evt{i}"}},
                            "UpdateExpression": "SET #s = :p, applied_at = :t",
                            "ConditionExpression": "attribute_not_exists(applied_at) AND #s = :r",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":p": {"S": "PROCESSED"},
                                ":t": {"N": "2"},
                                ":r": {"S": "RECEIVED"},
                            },
                        }
                    },
                ]
            ),
        )
        # The event plane: a batch of 10 received and deleted, with few and with many queued.
        emulator.sqs.purge_queue(QueueUrl=queue_url)
        for queued in (100, depth):
            fill(emulator, queue_url, queued + 10 * 20, f"d{queued}")
            figures[f"ReceiveMessage + DeleteMessageBatch of 10, {queued} queued"] = emulator.cost_ms(
                20, consume(emulator, queue_url)
            )
            emulator.sqs.purge_queue(QueueUrl=queue_url)
    per_event_ms = (
        figures["UpdateItem (status)"]["emulator_cpu_ms"]
        + figures["SendMessage (1 KB, FIFO)"]["emulator_cpu_ms"]
        + figures["TransactWriteItems (2 updates)"]["emulator_cpu_ms"]
    )
    small = figures["ReceiveMessage + DeleteMessageBatch of 10, 100 queued"]["emulator_cpu_ms"] / 10
    deep = figures[f"ReceiveMessage + DeleteMessageBatch of 10, {depth} queued"]["emulator_cpu_ms"] / 10
    return {
        "calls": figures,
        "per_event_emulator_cpu_ms": {
            "short queue": round(per_event_ms + small, 3),
            f"{depth} queued": round(per_event_ms + deep, 3),
        },
        "events_per_s_one_core": {
            "short queue": round(1000 / (per_event_ms + small)),
            f"{depth} queued": round(1000 / (per_event_ms + deep)),
        },
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--depth", type=int, default=3000, help="messages queued for the deep-queue figure")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args.calls, args.depth)
    for name, figure in result["calls"].items():
        print(f"{name:<52} {figure['emulator_cpu_ms']:>7.3f} ms emulator CPU   ({figure['wall_ms']:.3f} ms wall)")
    for label, value in result["per_event_emulator_cpu_ms"].items():
        print(
            f"one event end to end ({label}): {value} ms of emulator CPU -> at most "
            f"{result['events_per_s_one_core'][label]} events/s on its one core"
        )
    print(f"load average: {result['load_average']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
