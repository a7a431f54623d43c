"""A function for event plane tests: records every record it is given, misbehaves on request.

Each message body is JSON: ``{"group": G, "seq": N, "action": A}``. Every delivery is written
to the ``TABLE`` (pk = group, sk = arrival time + message id) with its receive count and
whether it was applied. Actions (all but ``poison`` only on a message's first receive):

- ``fail``: report the record as a batch item failure;
- ``poison``: report it failed on every receive;
- ``raise``: raise, failing the whole batch;
- ``crash``: end the process, failing the whole batch;
- ``sleep``: sleep ``seconds`` (past the function timeout: the invocation times out).
A batch failed by ``raise``/``crash``/``sleep`` applies none of its records and first writes a
``failed-batch`` item naming its messages. ``hold`` (seconds) slows an applied record down.
Within a batch, once a record of a group fails every later record of that group is reported
failed too (what a FIFO consumer must do to keep the group's order).
"""

import json
import os
import time

import boto3

TABLE = boto3.resource("dynamodb").Table(os.environ["TABLE"])


BATCH_ACTIONS = ("raise", "crash", "sleep")


def handler(event, context):
    records = [(record, json.loads(record["body"])) for record in event["Records"]]
    for record, body in records:
        if body.get("action") in BATCH_ACTIONS and record["attributes"].get("ApproximateReceiveCount") == "1":
            # Fail the whole batch before applying any of it, and say which messages it held.
            TABLE.put_item(
                Item={
                    "pk": "failed-batch",
                    "sk": f"{time.time_ns():020d}-{context.aws_request_id}",
                    "action": body["action"],
                    "message_ids": [r["messageId"] for r, _ in records],
                }
            )
            if body["action"] == "raise":
                raise RuntimeError("asked to fail the batch")
            if body["action"] == "crash":
                os._exit(3)
            time.sleep(float(body["seconds"]))  # past the function timeout
    failed_groups = set()
    failures = []
    for record, body in records:
        group = body["group"]
        receive_count = int(record["attributes"].get("ApproximateReceiveCount", "0"))
        action = body.get("action")
        failing = action == "poison" or (action == "fail" and receive_count == 1)
        applied = group not in failed_groups and not failing
        TABLE.put_item(
            Item={
                "pk": group,
                "sk": f"{time.time_ns():020d}-{record['messageId']}",
                "seq": body["seq"],
                "message_id": record["messageId"],
                "receive_count": receive_count,
                "applied": applied,
                "batch": context.aws_request_id,
            }
        )
        if not applied:
            failed_groups.add(group)
            failures.append({"itemIdentifier": record["messageId"]})
        elif body.get("hold"):
            time.sleep(float(body["hold"]))
    return {"batchItemFailures": failures}
