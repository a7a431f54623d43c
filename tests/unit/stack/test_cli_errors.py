"""Errors are one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
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
    assert_one_line_error(result, "--port", "65535", "hookstack up --help")
    assert result.returncode == 2
    assert "╭" not in result.stderr and "Usage:" not in result.stderr  # no boxed usage text
    assert not (isolated_home / "embedded").exists()


@pytest.mark.parametrize("args", [("up", "--no-such-option"), ("logs",), ("no-such-command",)])
def test_every_command_line_usage_error_is_one_line_and_exits_2(isolated_home, args):
    result = hookstack(*args)
    assert_one_line_error(result, "--help")
    assert result.returncode == 2


def test_a_missing_body_file_is_one_line(isolated_home):
    assert_one_line_error(hookstack("send", "--file", "/missing.json"), "/missing.json", "No such file or directory")


def test_secrets_init_on_aws_without_credentials_is_one_line(isolated_home):
    result = hookstack("secrets", "init", "--target", "aws", env=no_aws_credentials_env())
    assert_one_line_error(result, "aws", "credentials")


@pytest.mark.parametrize("name", ["nope", "Shopify"])
def test_an_unknown_provider_is_named_before_any_secret_is_looked_up(isolated_home, name):
    result = hookstack("send", "--provider", name)
    assert_one_line_error(result, f"unknown provider {name!r}", "shopify, stripe")
    assert "parameter" not in result.stderr and "hookstack up" not in result.stderr


def test_send_takes_a_body_file_or_an_invalid_sample_not_both(isolated_home, tmp_path):
    body = tmp_path / "body.json"
    body.write_text("{}")
    assert_one_line_error(hookstack("send", "--file", str(body), "--invalid"), "--file", "--invalid")


def test_replay_without_ids_says_which_options_to_give(isolated_home):
    result = hookstack("dlq", "replay", "--dry-run")
    assert_one_line_error(result, "--id", "--all")
    assert "all=True" not in result.stderr
    assert result.returncode == 2  # bad input, as for any usage error


def test_a_bad_gate_expression_exits_2_not_1_like_a_failed_gate(isolated_home):
    result = hookstack("load", "--gate", "p99<<250ms")
    assert_one_line_error(result, "p99<<250ms")
    assert result.returncode == 2


def test_cost_takes_the_report_as_an_option_as_the_readme_shows(isolated_home, tmp_path):
    missing = tmp_path / "summary.json"
    result = hookstack("cost", "--report", str(missing))
    assert_one_line_error(result, str(missing), "No such file or directory")
    assert "No such option" not in result.stderr


def test_cost_takes_a_duration_as_load_does(isolated_home):
    ten_minutes = hookstack("cost", "--rate", "10", "--duration", "10m", "--json")
    in_seconds = hookstack("cost", "--rate", "10", "--duration", "600", "--json")
    assert ten_minutes.returncode == 0, ten_minutes.stderr
    assert json.loads(ten_minutes.stdout)["total_usd"] == json.loads(in_seconds.stdout)["total_usd"]
    bad = hookstack("cost", "--rate", "10", "--duration", "10x")
    assert_one_line_error(bad, "--duration", "10x")
    assert bad.returncode == 2


def test_an_unknown_key_in_hookstack_toml_is_named(isolated_home, tmp_path):
    (tmp_path / "hookstack.toml").write_text('[hookstack]\nstag = "prod"\n')
    assert_one_line_error(hookstack("synth"), "hookstack.toml", "'stag'", "did you mean 'stage'")


def test_a_bad_value_in_hookstack_toml_is_one_line_naming_key_and_value(isolated_home, tmp_path):
    (tmp_path / "hookstack.toml").write_text("[hookstack]\nworker_batch_size = 20\n")
    result = hookstack("synth")
    assert_one_line_error(result, "worker_batch_size = 20", "less than or equal to 10")
    assert "validation error" not in result.stderr and "pydantic" not in result.stderr


def test_version(isolated_home):
    result = hookstack("--version")
    assert result.returncode == 0 and result.stdout.startswith("hookstack ")
    assert result.stdout.split()[1][0].isdigit()


def test_flags_show_no_value_placeholder_in_help(isolated_home):
    result = hookstack("send", "--help")
    assert result.returncode == 0
    assert "<bool>" not in result.stdout
    assert "--json" in result.stdout and "--invalid" in result.stdout


def _commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_no_flag_of_any_command_shows_a_value_placeholder():
    from stack.cli import command_line

    flags = [
        (" ".join(path), param.name, param.metavar)
        for path, command in _commands(command_line())
        for param in command.get_params(command.context_class(command))
        if getattr(param, "is_flag", False)
    ]
    assert len(flags) > 20  # --help of every command, --json, --dry-run, --e2e/--no-e2e, …
    assert [flag for flag in flags if flag[2] != ""] == []
