"""`hookstack aws <service> <operation> [--Name value ...]`: one AWS API call against a stage's
target, as awslocal does for LocalStack: the embedded emulator or LocalStack with its endpoint and
throwaway credentials, AWS with the profile the stage was deployed with. The answer is JSON."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from stack.cli.app import StageOpt, TargetOpt, app


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="One AWS API call against the stage's target (like awslocal); the answer as JSON. "
    "Parameters as the AWS CLI names them: --QueueUrl URL, a list as repeated flags or a JSON array, "
    "a map as a JSON object: hookstack aws sqs get-queue-attributes --QueueUrl $HOOKSTACK_QUEUE_URL "
    "--AttributeNames All",
)
def aws(
    context: typer.Context,
    service: Annotated[str, typer.Argument(help="boto3's service name: sqs, dynamodb, s3, lambda …")],
    operation: Annotated[
        str, typer.Argument(help="get-queue-attributes (AWS CLI), get_queue_attributes (boto3) or GetQueueAttributes")
    ],
    json_input: Annotated[
        str | None,
        typer.Option("--json-input", metavar="JSON", help="the parameters as one JSON object (flags override it)"),
    ] = None,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
) -> None:
    from stack.deploy.outputs import load_outputs
    from stack.ops.aws_call import parse_call, response_json, send

    call = parse_call(service, operation, context.args, json_input)  # before the stack: a typo needs none
    outputs = load_outputs(target, stage)
    sys.stdout.write(response_json(send(outputs.client(call.service), call)) + "\n")
