"""Patterns: selectable parts of the one definition."""

from __future__ import annotations

import pytest

from stack.config import PATTERN_NAMES, HookstackConfig
from stack.definition.app import hookstack_stack
from stack.definition.render import render_template
from stack.deploy.cloudformation import function_names
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError
from stack.patterns import PATTERNS, selected_patterns


def test_the_registry_and_the_config_name_the_same_patterns_in_the_same_order():
    assert tuple(PATTERNS) == PATTERN_NAMES


def test_webhooks_is_the_default_and_all_selects_every_pattern():
    assert HookstackConfig().patterns == ["webhooks"]
    assert HookstackConfig(patterns=["all"]).patterns == list(PATTERN_NAMES)


def test_an_unknown_or_empty_selection_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match=r"unknown pattern 'nope' \(known: webhooks"):
        HookstackConfig(patterns=["nope"])
    with pytest.raises(ValueError, match="at least one pattern"):
        HookstackConfig(patterns=[])


def test_selection_order_does_not_change_the_template():
    names = list(PATTERN_NAMES)
    forward = render_template(hookstack_stack(HookstackConfig(patterns=names)))
    backward = render_template(hookstack_stack(HookstackConfig(patterns=names[::-1])))
    assert forward == backward
    assert [p.name for p in selected_patterns(HookstackConfig(patterns=names[::-1]))] == names


ROUTELESS = {"notifications", "cdc"}  # alone, a stage with these has no API (test_no_api_stage.py)


def test_every_pattern_contributes_its_functions_outputs_and_routes_to_one_api():
    for name in PATTERN_NAMES:
        template = render_template(hookstack_stack(HookstackConfig(patterns=[name])))
        apis = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
        assert len(apis) == (0 if name in ROUTELESS else 1), name
        functions = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"]
        assert {f"{f}Name" for f in functions} <= set(template["Outputs"]), name


def test_function_names_come_from_the_outputs():
    outputs = {"WorkerFunctionName": "s-worker", "JobsIntakeFunctionName": "s-intake", "QueueUrl": "q"}
    assert function_names(outputs) == {"worker": "s-worker", "jobs-intake": "s-intake"}


def test_a_missing_pattern_output_names_the_pattern_and_how_to_add_it():
    outputs = StackOutputs(
        target="embedded",
        stage="dev",
        region="us-east-1",
        stack_name="hookstack-dev",
        api_id="a",
        api_url="http://127.0.0.1:1/dev",
        gateway="hookstack",
        patterns=["jobs"],
        artifacts_bucket="b",
        function_names={},
        resources={},
    )
    with pytest.raises(HookstackError, match=r"no webhooks pattern deployed \(patterns: jobs\).*--pattern webhooks"):
        _ = outputs.queue_url


def test_a_redeploy_that_leaves_a_pattern_out_is_told_so(tmp_path, monkeypatch):
    from stack.deploy.outputs import outputs_path
    from stack.embedded.lifecycle import dropped_patterns

    monkeypatch.setenv("HOOKSTACK_HOME", str(tmp_path))
    config = HookstackConfig(patterns=["webhooks"])
    assert dropped_patterns(config) == []  # nothing deployed yet
    path = outputs_path("embedded", config.stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"patterns": ["webhooks", "jobs"]}')
    assert dropped_patterns(config) == ["jobs"]
    assert dropped_patterns(HookstackConfig(patterns=["all"])) == []
