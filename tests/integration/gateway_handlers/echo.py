"""Toy proxy handler for the gateway tests: answers with what it was given.

Query parameters steer it: sleep=<seconds>, raise=<message>, exit=<code>, malformed=1,
print=<text> (written to stdout without a newline), status=<code>.
"""

import json
import os
import sys
import time

COLD = True


def handler(event, context):
    global COLD
    cold, COLD = COLD, False
    query = event.get("queryStringParameters") or {}
    print(json.dumps({"message": "echo", "path": event.get("path"), "duration_ms": 0.1}))
    if "print" in query:
        sys.stdout.write(query["print"])
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if "raise" in query:
        raise ValueError(query["raise"])
    if "exit" in query:
        os._exit(int(query["exit"]))
    if "malformed" in query:
        return {"statusCode": 200, "body": {"not": "a string"}}
    body = {
        "event": event,
        "pid": os.getpid(),
        "cold": cold,
        "cwd": os.getcwd(),
        "sys_path_0": sys.path[0],
        "environ": dict(os.environ),
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "log_group_name": context.log_group_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
    return {
        "statusCode": int(query.get("status", 200)),
        "headers": {"Content-Type": "application/json", "X-Echo": "1"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps(body),
    }
