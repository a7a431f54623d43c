"""A stage whose patterns have no route renders no REST API (API Gateway refuses to deploy one
without methods: "The REST API doesn't contain any methods"), and every command that needs the API
says so in one line; the others (env, outputs) still work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stack.cli.env import stage_variables
from stack.clients.token_placement import TokenPlacement
from stack.config import HookstackConfig
from stack.definition.app import hookstack_stack
from stack.definition.render import render_template
from stack.deploy.outputs import StackOutputs
from stack.errors import NoApiError
from tests.helpers.credentials_env import no_aws_credentials_env
from tests.unit.stack.test_cli_errors import assert_one_line_error

PARTNER = "http://127.0.0.1:9999"
API_PLATFORM = ("AuthorizerFunction", "AuthorizerFunctionRole", "AuthorizerFunctionLogGroup")


def _template(patterns: list[str]) -> dict:
    return render_template(hookstack_stack(HookstackConfig(patterns=patterns, partner_url=PARTNER)))


@pytest.mark.parametrize("patterns", [["cdc"], ["notifications"], ["cdc", "notifications"]])
def test_patterns_without_a_route_render_no_api_nor_its_authorizer(patterns):
    template = _template(patterns)
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::ApiGateway::")}, types
    assert not set(API_PLATFORM) & set(template["Resources"])
    assert not {"ApiId", "ApiUrl", "StageName", "AuthorizerFunctionName"} & set(template["Outputs"])


@pytest.mark.parametrize("patterns", [["webhooks"], ["cdc", "jobs"]])
def test_a_pattern_with_a_route_brings_the_api_with_its_methods(patterns):
    template = _template(patterns)
    types = [resource["Type"] for resource in template["Resources"].values()]
    assert types.count("AWS::ApiGateway::RestApi") == 1 and "AWS::ApiGateway::Method" in types
    assert set(API_PLATFORM) <= set(template["Resources"]) and "ApiUrl" in template["Outputs"]


def _outputs(target: str = "embedded") -> StackOutputs:
    return StackOutputs(
        target=target,
        stage="dev",
        region="eu-west-1",
        stack_name="hookstack-dev",
        gateway=target,
        patterns=["cdc"],
        artifacts_bucket="artifacts",
        function_names={},
        resources={"CdcQueueUrl": "https://sqs.eu-west-1.amazonaws.com/1/cdc"},
    )


def test_the_outputs_of_a_stage_without_api_name_it_when_read():
    found = _outputs()
    assert not found.has_api
    with pytest.raises(NoApiError, match="stage 'dev' has no API: none of its patterns \\(cdc\\) has a route"):
        _ = found.api_url
    # Saved and read back as before: the file keeps its keys.
    saved = json.loads(found.model_dump_json())
    assert saved["api_url"] is None and StackOutputs(**saved) == found


def test_env_of_a_stage_without_api_exports_its_resources_but_no_api_url_or_token():
    variables = stage_variables(_outputs(), TokenPlacement.in_header("X-Hookstack-Token"), "", {})
    assert variables["HOOKSTACK_CDC_QUEUE_URL"].endswith("/cdc")
    assert not {"HOOKSTACK_API_URL", "HOOKSTACK_TOKEN", "HOOKSTACK_TOKEN_HEADER"} & set(variables)


def _hookstack(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stack.cli", *args],
        capture_output=True,
        text=True,
        env={**no_aws_credentials_env(), "HOOKSTACK_HOME": os.environ["HOOKSTACK_HOME"]},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def deployed_without_api(isolated_home):
    """A saved aws stage without an API (its outputs are read without reaching AWS)."""
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "outputs-aws-dev.json").write_text(_outputs("aws").model_dump_json())
    return isolated_home


@pytest.mark.parametrize(
    "args",
    [
        ["send", "--provider", "shopify", "--target", "aws"],
        ["status", "evt_x", "--target", "aws"],
        ["load", "--target", "aws", "--scenario", "steady", "--rate", "1", "--duration", "1s"],
    ],
)
def test_commands_needing_the_api_say_in_one_line_that_the_stage_has_none(deployed_without_api, args):
    assert_one_line_error(_hookstack(*args), "stage 'dev' has no API", "(cdc)")


def test_env_on_a_stage_without_api_says_so_in_one_line_and_exports_the_rest(deployed_without_api):
    result = _hookstack("env", "--target", "aws")
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "stage 'dev' has no API: none of its patterns (cdc) has a route (add one that does, e.g. `--pattern "
        "webhooks`): no API URL, token or signing secrets exported"
    ]
    assert "HOOKSTACK_CDC_QUEUE_URL" in result.stdout and "HOOKSTACK_API_URL" not in result.stdout


def test_the_openapi_document_of_a_stage_without_api_is_a_one_line_error(isolated_home):
    assert_one_line_error(_hookstack("synth", "--pattern", "cdc", "--openapi"), "has no API")


class _FakeEventPlane:
    def __init__(self, mappings: list[str]):
        self.pid, self.mappings, self.stopped = 4242, mappings, False

    def stop(self) -> int:
        self.stopped = True
        return 0


@pytest.mark.parametrize("mappings", [["CallbackSenderMapping"], []])
def test_with_no_api_the_event_plane_runs_alone_until_down_and_only_when_it_has_mappings(
    tmp_path, monkeypatch, mappings
):
    """No gateway hosts it: started detached (not tied to `hookstack up`), recorded for `down`;
    with no SQS mapping to serve (a stream mapping is the emulator's) no idle process stays."""
    from stack.embedded import lifecycle
    from stack.embedded.event_plane import process as event_plane_process

    started: dict = {}
    plane = _FakeEventPlane(mappings)

    def launch(endpoint_url, stack_name, log_dir, state_dir, **options):
        started.update(options, stack_name=stack_name)
        return plane

    monkeypatch.setattr(event_plane_process, "launch", launch)
    (tmp_path / "embedded").mkdir()
    config = HookstackConfig(stage="nt", patterns=["notifications"])
    served = lifecycle._start_event_plane_alone("http://127.0.0.1:1", config, tmp_path, python="/x/python")
    assert served == mappings
    assert started["exit_with_parent"] is False and started["python"] == "/x/python"
    state_file = tmp_path / "embedded" / "event-plane-nt.json"
    assert plane.stopped is (not mappings)
    assert state_file.exists() is bool(mappings)
    if mappings:
        assert json.loads(state_file.read_text()) == {"pid": 4242}
