"""The fault switch and the `chaos inject | status | off` commands, on an in-process fake SSM."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from typer.testing import CliRunner

from chaos.cli import app
from chaos.switch import FaultSwitch, expiry
from handlers.faults import Fault, FaultConfig, ParameterFaults
from stack.deploy.outputs import StackOutputs, save_outputs
from stack.errors import HookstackError

PARAMETER = "/hookstack/dev/chaos/faults"


@pytest.fixture
def ssm(moto_aws):
    return boto3.client("ssm", region_name="us-east-1")


def worker_fault(fault_id: str, seconds: float = 300, **values) -> Fault:
    return Fault(id=fault_id, function="worker", point="write", action="error", expires_at=expiry(seconds), **values)


def test_write_read_add_and_off(ssm):
    switch = FaultSwitch(ssm, PARAMETER)
    assert switch.read() == FaultConfig() and switch.off() == 0  # nothing stored: no faults, off is harmless
    switch.write([worker_fault("a")], applied_log_until=int(time.time()) + 60)
    switch.add(worker_fault("b"))
    switch.add(worker_fault("a", percentage=50))  # same id: replaced
    config = switch.read()
    assert sorted(f.id for f in config.faults) == ["a", "b"]
    assert next(f for f in config.faults if f.id == "a").percentage == 50
    assert config.applied_log_on(time.time()) and config.updated_by
    assert switch.off() == 2
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=PARAMETER)


def test_what_the_switch_writes_is_what_the_handlers_read(ssm):
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    switch = FaultSwitch(ssm, PARAMETER)
    switch.write([worker_fault("a", groups=("demo:shop-*",))])
    source = ParameterFaults(PARAMETER, 0, lambda: SSMProvider(boto3_client=ssm))
    assert [f.id for f in source.current().active(time.time())] == ["a"]
    switch.off()
    assert source.current().faults == ()


def test_expired_faults_are_dropped_when_adding(ssm):
    switch = FaultSwitch(ssm, PARAMETER)
    stale = Fault(id="old", function="worker", point="write", action="error", expires_at=int(time.time()) - 5)
    switch.write([stale])
    switch.add(worker_fault("new"))
    assert [f.id for f in switch.read().faults] == ["new"]
    assert switch.describe()["active"][0]["id"] == "new"


def test_malformed_parameter_is_reported_and_off_still_removes_it(ssm):
    ssm.put_parameter(Name=PARAMETER, Value="{not json", Type="String")
    switch = FaultSwitch(ssm, PARAMETER)
    with pytest.raises(HookstackError, match="malformed"):
        switch.read()
    assert switch.off() == 0
    assert switch.read() == FaultConfig()


@pytest.mark.parametrize("seconds", [0, -1, 13 * 3600])
def test_fault_lifetime_is_bounded(seconds):
    with pytest.raises(HookstackError, match="lasts between"):
        expiry(seconds)


def test_oversized_configuration_is_refused(ssm):
    switch = FaultSwitch(ssm, PARAMETER)
    faults = [worker_fault(f"fault-{i}", groups=tuple(f"demo:{'x' * 60}-{j}" for j in range(5))) for i in range(20)]
    with pytest.raises(HookstackError, match="4096"):
        switch.write(faults)


# --- the commands -------------------------------------------------------------------------------


@pytest.fixture
def deployed(ssm, tmp_path, monkeypatch):
    """Outputs of an 'aws' stage (the fake SSM answers for it) in a private hookstack home."""
    monkeypatch.setenv("HOOKSTACK_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    save_outputs(
        StackOutputs(
            target="aws",
            stage="dev",
            region="us-east-1",
            stack_name="hookstack-dev",
            api_id="abc",
            api_url="https://x",
            gateway="aws",
            resources={
                "QueueUrl": "q",
                "DlqUrl": "d",
                "EventsTable": "e",
                "ProjectionsTable": "p",
                "PayloadBucket": "b",
            },
            artifacts_bucket="a",
            function_names={},
        )
    )
    return ssm


def test_inject_status_off_commands(deployed):
    runner = CliRunner()
    for fault_id, extra in (
        ("slow", ["--action", "latency", "--latency-ms", "800"]),
        (
            "throttled",
            [
                "--action",
                "throttle",
                "--error-code",
                "ThrottlingException",
                "--group",
                "demo:shop-*",
                "--percentage",
                "30",
            ],
        ),
    ):
        result = runner.invoke(
            app,
            [
                "inject",
                "--id",
                fault_id,
                "--function",
                "worker",
                "--point",
                "write",
                "--for",
                "120",
                "--target",
                "aws",
                "--stage",
                "dev",
                *extra,
            ],
        )
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["status", "--target", "aws", "--stage", "dev", "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert sorted(f["id"] for f in described["active"]) == ["slow", "throttled"]
    result = runner.invoke(app, ["off", "--target", "aws", "--stage", "dev"])
    assert result.exit_code == 0 and "removed 2 active fault(s)" in result.output
    described = json.loads(runner.invoke(app, ["status", "--target", "aws", "--stage", "dev", "--json"]).stdout)
    assert described["active"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--function", "producer", "--point", "write", "--action", "error"], "invalid fault"),
        (["--function", "worker", "--point", "write", "--action", "skip"], "drills only"),
        (["--function", "worker", "--point", "write", "--action", "error", "--for", "0"], "lasts between"),
    ],
)
def test_inject_refuses_bad_faults(deployed, args, message):
    result = CliRunner().invoke(app, ["inject", "--id", "x", *args, "--target", "aws", "--stage", "dev"])
    assert result.exit_code != 0
    assert isinstance(result.exception, HookstackError) and message in str(result.exception)
