"""The typed definition refuses what AWS would refuse, before any deploy."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stack.config import HookstackConfig, load_config
from stack.definition.models import Function, Grant, Queue, Route, StackDefinition
from stack.errors import HookstackError


def test_fifo_queue_names_end_in_fifo():
    with pytest.raises(ValidationError, match="end in .fifo"):
        Queue(logical_id="Q", name="ingest", fifo=True)
    with pytest.raises(ValidationError, match="end in .fifo"):
        Queue(logical_id="Q", name="ingest.fifo", fifo=False)


def test_redrive_needs_both_dlq_and_max_receive_count():
    with pytest.raises(ValidationError, match="redrive"):
        Queue(logical_id="Q", name="q.fifo", dead_letter_queue="D")


def test_unknown_references_are_refused():
    function = Function(
        logical_id="Fn", name="fn", handler="h.handler", grants=[Grant(actions=["sqs:SendMessage"], resource="Missing")]
    )
    with pytest.raises(ValidationError, match="Missing"):
        StackDefinition(description="x", functions=[function])


def test_grant_names_exactly_one_target():
    with pytest.raises(ValidationError):
        Grant(actions=["ssm:GetParameter"])
    with pytest.raises(ValidationError):
        Grant(actions=["ssm:GetParameter"], resource="A", parameter_path="/p/")


def test_route_path_parameters():
    assert Route(method="POST", path="/webhooks/{provider}", function="F").path_parameters == ["provider"]


def test_config_limits():
    with pytest.raises(ValidationError):
        HookstackConfig(worker_batch_size=11)  # FIFO mappings take at most 10
    with pytest.raises(ValidationError):
        HookstackConfig(max_request_bytes=11 * 1024 * 1024)  # API Gateway's 10 MB
    with pytest.raises(ValidationError):
        HookstackConfig(tenants=[{"name": "acme", "providers": ["paypal"]}])


def test_config_file_and_environment(isolated_home, monkeypatch):
    Path("hookstack.toml").write_text('[hookstack]\nstage = "qa"\nmax_receive_count = 9\n')
    config = load_config()
    assert (config.stage, config.max_receive_count) == ("qa", 9)
    monkeypatch.setenv("HOOKSTACK_STAGE", "perf")
    assert load_config().stage == "perf"
    assert load_config(stage="x1").stage == "x1"


def test_invalid_config_is_one_clear_error(isolated_home):
    Path("hookstack.toml").write_text("[hookstack]\nworker_batch_size = 50\n")
    with pytest.raises(HookstackError, match="invalid configuration.*worker_batch_size"):
        load_config()
    Path("hookstack.toml").write_text("[hookstack\n")
    with pytest.raises(HookstackError, match="not valid TOML"):
        load_config()


def test_high_throughput_mode_is_for_fifo_queues_only():
    assert Queue(logical_id="Q", name="q.fifo", high_throughput=True).high_throughput
    with pytest.raises(ValueError, match="high-throughput"):
        Queue(logical_id="Q", name="q", fifo=False, high_throughput=True)
