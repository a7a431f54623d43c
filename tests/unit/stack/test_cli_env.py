"""`hookstack env`: the variables a plain script needs, quoted for the shell."""

from __future__ import annotations

import os
import subprocess

from stack.cli.env import export_lines, stage_variables
from stack.clients.token_placement import TokenPlacement
from stack.deploy.outputs import StackOutputs


def outputs(**overrides: object) -> StackOutputs:
    values: dict = {
        "target": "embedded",
        "stage": "dev",
        "region": "eu-west-1",
        "stack_name": "hookstack-dev",
        "api_id": "a1",
        "api_url": "http://127.0.0.1:38135/dev",
        "gateway": "hookstack",
        "endpoint_url": "http://127.0.0.1:45049",
        "resources": {
            "QueueUrl": "http://127.0.0.1:45049/000000000000/hookstack-dev-ingest.fifo",
            "DlqUrl": "http://127.0.0.1:45049/000000000000/hookstack-dev-ingest-dlq.fifo",
            "EventsTable": "events",
            "ProjectionsTable": "projections",
            "PayloadBucket": "payloads",
        },
        "artifacts_bucket": "artifacts",
        "function_names": {},
    }
    return StackOutputs(**{**values, **overrides})


def evaluated(lines: list[str]) -> dict[str, str]:
    """The environment a POSIX shell has after evaluating ``lines``."""
    script = "\n".join(lines) + "\nenv -0"
    result = subprocess.run(["sh", "-c", script], capture_output=True, env={"PATH": os.environ["PATH"]}, check=True)
    pairs = (item.partition("=") for item in result.stdout.decode().split("\0") if item)
    return {name: value for name, _, value in pairs}


def test_an_emulator_stage_exports_endpoint_credentials_resources_token_and_secrets():
    found = outputs()
    secrets = {"shopify": "s$cret \"quoted\" 'too'", "standard-webhooks": "whsec_abc"}
    variables = stage_variables(found, TokenPlacement.in_header("X-Hookstack-Token"), "tok en", secrets)
    shell = evaluated(export_lines(found, variables))
    assert shell["AWS_ENDPOINT_URL"] == "http://127.0.0.1:45049"
    assert shell["AWS_REGION"] == shell["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert shell["AWS_ACCESS_KEY_ID"] and shell["AWS_SECRET_ACCESS_KEY"]
    assert shell["HOOKSTACK_API_URL"] == found.api_url
    assert shell["HOOKSTACK_QUEUE_URL"] == found.queue_url and shell["HOOKSTACK_EVENTS_TABLE"] == "events"
    assert shell["HOOKSTACK_TOKEN"] == "tok en" and shell["HOOKSTACK_TOKEN_HEADER"] == "X-Hookstack-Token"
    # The names `hookstack load` reads the secrets from.
    assert shell["HOOKSTACK_SHOPIFY_SECRET"] == secrets["shopify"]
    assert shell["HOOKSTACK_STANDARD_WEBHOOKS_SECRET"] == "whsec_abc"
    assert "HOOKSTACK_LOAD_URL" not in shell  # it would turn `hookstack load` into a bare-URL run


def test_an_aws_stage_uses_its_profile_and_drops_an_emulator_endpoint():
    found = outputs(
        target="aws", endpoint_url=None, profile="ops", api_url="https://x.execute-api.eu-west-1.amazonaws.com/dev"
    )
    variables = stage_variables(found, TokenPlacement.in_query("token"), "t", {})
    lines = export_lines(found, variables)
    assert lines[0].startswith("unset ") and "AWS_ENDPOINT_URL" in lines[0] and "AWS_ACCESS_KEY_ID" in lines[0]
    shell = evaluated(["export AWS_ENDPOINT_URL=http://127.0.0.1:1", *lines])
    assert "AWS_ENDPOINT_URL" not in shell and "AWS_ACCESS_KEY_ID" not in shell
    assert shell["AWS_PROFILE"] == "ops" and shell["HOOKSTACK_TOKEN_QUERY_PARAMETER"] == "token"
    assert "HOOKSTACK_TOKEN_HEADER" not in shell
