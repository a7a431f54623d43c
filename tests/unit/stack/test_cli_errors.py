"""Errors are one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from stack.embedded.emulator import free_port
from tests.helpers.credentials_env import no_aws_credentials_env


def hookstack(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stack.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    # Progress lines may come first; the failure itself is exactly one line, the last.
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_outputs_without_a_deployed_stack(isolated_home):
    assert_one_line_error(hookstack("outputs"), "hookstack up")


def test_localstack_not_running(isolated_home):
    port = free_port()
    result = hookstack("deploy", "--target", "localstack", "--endpoint-url", f"http://127.0.0.1:{port}")
    assert_one_line_error(result, "localstack", f"127.0.0.1:{port}")


def test_aws_without_credentials(isolated_home):
    result = hookstack("deploy", "--target", "aws", env=no_aws_credentials_env())
    assert_one_line_error(result, "aws", "credentials")


def test_unknown_target(isolated_home):
    assert_one_line_error(hookstack("deploy", "--target", "azure"), "unknown target")


def test_emulator_port_busy(isolated_home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_one_line_error(hookstack("up", "--port", str(port)), f"port {port}", "busy")


@pytest.mark.parametrize("args", [["send", "--provider", "shopify"], ["status", "evt_x"]])
def test_commands_needing_a_stack_say_so(isolated_home, args):
    assert_one_line_error(hookstack(*args), "hookstack up")


def test_a_file_that_cannot_be_written_is_one_line(isolated_home, tmp_path):
    missing = tmp_path / "no-such-dir" / "template.json"
    assert_one_line_error(hookstack("synth", "--out", str(missing)), str(missing), "No such file or directory")


def test_a_port_out_of_range_is_refused_before_anything_starts(isolated_home):
    result = hookstack("up", "--port", "99999")
    assert result.returncode == 2 and "65535" in result.stderr and "Traceback" not in result.stderr
    assert not (isolated_home / "embedded").exists()
