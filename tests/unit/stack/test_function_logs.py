"""Function logs: the embedded log folder (kept after `down`, rotated by a new `up`), reading
with --since, bounded following, CloudWatch Logs, and `hookstack logs` through the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from stack.embedded import function_logs
from stack.ops import logs
from tests.unit.stack.test_cli_errors import assert_one_line_error, hookstack

NAMES = {"producer": "hookstack-dev-producer", "worker": "hookstack-dev-worker", "status": "hookstack-dev-status"}


def powertools_line(epoch: float, message: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) + f",{int(epoch % 1 * 1000):03d}+0000"
    return json.dumps({"level": "INFO", "message": message, "timestamp": stamp})


def stage_logs(home: Path, *, with_worker: bool = True) -> function_logs.StageLogs:
    directory = function_logs.logs_dir(home, "dev")
    function_logs.write_manifest(directory, NAMES, gateway="hookstack", event_plane="hookstack")
    for short in ("producer", "status", *(["worker"] if with_worker else [])):
        (directory / f"{NAMES[short]}.log").write_text("")
    found = function_logs.read_manifest(home, "dev")
    assert found is not None
    return found


def test_a_line_time_is_read_from_the_handlers_json_and_none_elsewhere():
    assert logs.line_time(powertools_line(1_800_000_000.25, "x")) == pytest.approx(1_800_000_000.25)
    assert logs.line_time("START RequestId: 1 Version: $LATEST") is None
    assert logs.line_time('{"timestamp": 1800000000000}') == 1_800_000_000.0
    assert logs.line_time("{not json") is None


def test_untimed_lines_take_the_time_of_the_line_before_or_the_first_after():
    lines = ["START a", powertools_line(100.0, "one"), "END a", "REPORT a", "START b", powertools_line(200.0, "two")]
    assert [at for at, _ in logs.timed_lines(lines, fallback=0.0)] == [100.0, 100.0, 100.0, 100.0, 100.0, 200.0]
    assert [at for at, _ in logs.timed_lines(["START", "END"], fallback=7.0)] == [7.0, 7.0]


def test_since_keeps_the_recent_lines_and_a_half_written_line_waits(tmp_path):
    now = time.time()
    path = tmp_path / "f.log"
    old, new = powertools_line(now - 3600, "old"), powertools_line(now - 5, "new")
    path.write_text(f'START 1\n{old}\nREPORT 1\nSTART 2\n{new}\nREPORT 2\n{{"partial')
    everything, offset = logs.read_log(path)
    assert everything == ["START 1", old, "REPORT 1", "START 2", new, "REPORT 2"]
    assert offset == path.stat().st_size - len('{"partial')
    recent, _ = logs.read_log(path, since=now - 600)
    assert recent == [new, "REPORT 2"]


class StepClock:
    """A clock that moves on only when the follow sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1


def test_following_yields_appended_lines_and_stops_at_the_deadline(tmp_path):
    path = tmp_path / "f.log"
    path.write_text("first\n")
    clock = StepClock()
    offset = path.stat().st_size
    appended = iter(["second\nthi", "rd\n"])

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        chunk = next(appended, None)
        if chunk is not None:
            with path.open("a") as file:
                file.write(chunk)

    lines = list(
        logs.follow_log(path, offset, keep_going=lambda: True, deadline=5.0, poll_s=1.0, clock=clock, sleep=sleep)
    )
    assert lines == ["second", "third"]
    assert clock.now >= 5.0 and clock.sleeps <= 6


def test_following_stops_when_the_stack_goes_down(tmp_path):
    path = tmp_path / "f.log"
    path.write_text("")
    clock = StepClock()
    up = iter([True, True, False])
    lines = list(
        logs.follow_log(path, 0, keep_going=lambda: next(up), deadline=1e9, poll_s=1.0, clock=clock, sleep=clock.sleep)
    )
    assert lines == [] and clock.sleeps == 2


def test_a_log_rotated_while_followed_is_read_from_its_start(tmp_path):
    path = tmp_path / "f.log"
    path.write_text("a long first session line\n")
    clock = StepClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.sleeps == 1:
            path.write_text("new\n")

    found = logs.follow_log(path, path.stat().st_size, keep_going=lambda: True, deadline=3.0, clock=clock, sleep=sleep)
    assert list(found) == ["new"]


def test_a_new_up_rotates_the_logs_one_generation_deep(tmp_path):
    directory = function_logs.logs_dir(tmp_path, "dev")
    for session in ("one", "two"):
        directory.mkdir(parents=True)
        (directory / "f.log").write_text(session)
        function_logs.rotate(tmp_path, "dev")
    assert not directory.exists()
    assert (directory.with_name("dev.previous") / "f.log").read_text() == "two"
    function_logs.rotate(tmp_path, "dev")  # nothing to rotate: no error


def test_a_function_the_data_plane_does_not_run_has_no_log_here(tmp_path):
    found = stage_logs(tmp_path, with_worker=False)
    assert found.runs_here("producer") and not found.runs_here("worker")


@mock_aws
def test_cloudwatch_lines_and_follow_show_each_event_once():
    client = boto3.client("logs", region_name="us-east-1")
    group = logs.log_group("hookstack-dev-worker")
    client.create_log_group(logGroupName=group)
    client.create_log_stream(logGroupName=group, logStreamName="s")
    now_ms = int(time.time() * 1000)
    events = [{"timestamp": now_ms - 1000, "message": "older\n"}, {"timestamp": now_ms, "message": "newest"}]
    client.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    assert [m for _, m in logs.cloudwatch_lines(client, "hookstack-dev-worker", now_ms - 60_000)] == ["older", "newest"]
    clock = StepClock()
    followed = logs.follow_cloudwatch(
        client, "hookstack-dev-worker", now_ms, deadline=3.0, poll_s=1.0, clock=clock, sleep=clock.sleep
    )
    assert list(followed) == ["newest"]  # polled three times, shown once


def test_logs_of_a_stage_never_up_is_one_line(isolated_home):
    assert_one_line_error(hookstack("logs", "worker"), "hookstack up")


def test_logs_after_down_print_the_file_and_an_unknown_function_lists_them(isolated_home):
    found = stage_logs(isolated_home)
    found.path("worker").write_text(f"START 1\n{powertools_line(time.time(), 'processed')}\nREPORT 1\n")
    result = hookstack("logs", "worker")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "START 1" and "processed" in result.stdout
    assert hookstack("logs", "hookstack-dev-worker").stdout == result.stdout  # the deployed name works too
    follow = hookstack("logs", "worker", "--follow")  # the stack is down: prints, then stops
    assert follow.returncode == 0 and follow.stdout == result.stdout
    unknown = hookstack("logs", "wrker")
    assert unknown.returncode == 2
    assert_one_line_error(unknown, "unknown function 'wrker'", "producer, status, worker")


def test_logs_of_a_function_the_emulator_runs_say_not_supported(isolated_home):
    stage_logs(isolated_home, with_worker=False)
    assert_one_line_error(hookstack("logs", "worker"), "not supported on this target configuration")


def test_a_bad_since_is_a_usage_error(isolated_home):
    result = hookstack("logs", "worker", "--since", "ten minutes")
    assert result.returncode == 2
    assert_one_line_error(result, "--since", "not a duration")
