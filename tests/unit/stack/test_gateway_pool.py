"""Execution environments and their pool, with real runtime processes (no emulator involved)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stack.embedded.gateway import runtime
from stack.embedded.gateway.definition import FunctionSpec
from stack.embedded.gateway.environment import LaunchSettings, function_environment, prepare_runtime_libs
from stack.embedded.gateway.pool import FunctionPool, InvocationFailed, InvocationResult

HANDLER = textwrap.dedent(
    """
    import json, os, sys, time

    def handler(event, context):
        action = event.get("action")
        if action == "sleep":
            time.sleep(event["seconds"])
        elif action == "raise":
            raise KeyError("missing")
        elif action == "exit":
            os._exit(3)
        elif action == "import":
            __import__(event["module"])
        elif action == "unserializable":
            return {"value": object()}
        print("handled", action)
        sys.stdout.write("partial line without newline")
        return {
            "pid": os.getpid(),
            "env": dict(os.environ),
            "sys_path_0": sys.path[0],
            "request_id": context.aws_request_id,
            "remaining": context.get_remaining_time_in_millis(),
            "memory": context.memory_limit_in_mb,
            "arn": context.invoked_function_arn,
        }
    """
)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> LaunchSettings:
    state = tmp_path_factory.mktemp("state")
    return LaunchSettings("http://127.0.0.1:9", "us-east-1", state, prepare_runtime_libs(state))


def _function(tmp_path: Path, source: str = HANDLER, timeout_s: float = 2.0, **overrides: Any) -> FunctionSpec:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "toy.py").write_text(source)
    spec = FunctionSpec(
        name="toy",
        arn="arn:aws:lambda:us-east-1:000000000000:function:toy",
        handler="toy.handler",
        runtime="python3.11",
        timeout_s=timeout_s,
        memory_mb=256,
        environment={"TOY": "1"},
        reserved_concurrency=None,
        code_dir=code,
        code_sha256="",
    )
    return replace(spec, **overrides)


def _run(
    function: FunctionSpec,
    settings: LaunchSettings,
    log: Path,
    scenario: Callable[[FunctionPool], Awaitable[Any]],
    size: int | None = None,
) -> Any:
    async def main() -> Any:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        pool = FunctionPool(function, settings, fd, size=size)
        try:
            return await scenario(pool)
        finally:
            await pool.close()
            os.close(fd)

    return asyncio.run(main())


async def _invoke(pool: FunctionPool, event: dict[str, Any]) -> InvocationResult:
    invocation = pool.submit(os.urandom(8).hex(), json.dumps(event).encode())
    return await invocation.future


def test_invocation_environment_and_logs(tmp_path: Path, settings: LaunchSettings) -> None:
    log = tmp_path / "toy.log"
    os.environ["GATEWAY_ONLY_MARKER"] = "1"
    try:

        async def scenario(pool: FunctionPool) -> tuple[InvocationResult, InvocationResult]:
            return await _invoke(pool, {"action": "a"}), await _invoke(pool, {"action": "b"})

        first, second = _run(_function(tmp_path), settings, log, scenario)
    finally:
        del os.environ["GATEWAY_ONLY_MARKER"]
    assert first.ok and second.ok
    assert first.init_ms is not None and first.init_ms > 0
    assert second.init_ms is None
    assert first.payload["pid"] == second.payload["pid"]
    env = first.payload["env"]
    assert "GATEWAY_ONLY_MARKER" not in env
    assert env["TOY"] == "1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "toy"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert env["AWS_ACCESS_KEY_ID"] == "test"
    assert env["_HANDLER"] == "toy.handler"
    assert first.payload["sys_path_0"] == str(tmp_path / "code")
    assert 0 < first.payload["remaining"] <= 2000
    assert first.payload["memory"] == "256"
    assert first.payload["arn"].endswith(":function:toy")

    lines = log.read_text().splitlines()
    starts = [line for line in lines if line.startswith("START RequestId: ")]
    reports = [line for line in lines if line.startswith("REPORT RequestId: ")]
    assert len(starts) == 2 and len(reports) == 2
    assert "Init Duration: " in reports[0] and "Init Duration: " not in reports[1]
    assert "\tMemory Size: 256 MB\t" in reports[0]
    assert "handled a" in lines
    assert "partial line without newline" in lines  # ended before END was written
    assert lines.index("handled a") < lines.index(next(line for line in lines if line.startswith("END")))


def test_function_error_keeps_the_environment(tmp_path: Path, settings: LaunchSettings) -> None:
    log = tmp_path / "toy.log"

    async def scenario(pool: FunctionPool) -> tuple[InvocationResult, InvocationResult, InvocationResult]:
        return (
            await _invoke(pool, {"action": "raise"}),
            await _invoke(pool, {"action": "unserializable"}),
            await _invoke(pool, {"action": "ok"}),
        )

    failed, unmarshalled, ok = _run(_function(tmp_path), settings, log, scenario)
    assert not failed.ok and failed.error["errorType"] == "KeyError"
    assert failed.error["stackTrace"]
    assert unmarshalled.error["errorType"] == "Runtime.MarshalError"
    assert ok.ok and ok.init_ms is None
    assert "[ERROR] KeyError: 'missing'" in log.read_text()


def test_timeout_kills_and_replaces(tmp_path: Path, settings: LaunchSettings) -> None:
    log = tmp_path / "toy.log"

    async def scenario(pool: FunctionPool) -> tuple[InvocationFailed, InvocationResult, dict[str, Any]]:
        first = await _invoke(pool, {"action": "ok"})
        with pytest.raises(InvocationFailed) as failure:
            await _invoke(pool, {"action": "sleep", "seconds": 5})
        after = await _invoke(pool, {"action": "ok"})
        assert after.payload["pid"] != first.payload["pid"]
        return failure.value, after, pool.snapshot()

    failure, after, stats = _run(_function(tmp_path, timeout_s=0.5), settings, log, scenario)
    assert failure.kind == "timeout"
    assert after.ok and after.init_ms is not None
    assert stats["timeouts"] == 1 and stats["cold_starts"] == 2
    text = log.read_text()
    assert "Task timed out after 0.50 seconds" in text
    assert "Status: timeout" in text


def test_crash_fails_only_that_invocation(tmp_path: Path, settings: LaunchSettings) -> None:
    log = tmp_path / "toy.log"

    async def scenario(pool: FunctionPool) -> tuple[InvocationFailed, InvocationResult, dict[str, Any]]:
        with pytest.raises(InvocationFailed) as failure:
            await _invoke(pool, {"action": "exit"})
        return failure.value, await _invoke(pool, {"action": "ok"}), pool.snapshot()

    failure, after, stats = _run(_function(tmp_path), settings, log, scenario)
    assert failure.kind == "crash"
    assert "exit status 3" in str(failure)
    assert after.ok
    assert stats["crashes"] == 1
    assert "Runtime exited with error: exit status 3" in log.read_text()


def test_init_failure_fails_the_waiting_invocation(tmp_path: Path, settings: LaunchSettings) -> None:
    log = tmp_path / "toy.log"
    function = _function(tmp_path, source="import not_in_the_zip\n\ndef handler(e, c):\n    return 1\n")

    async def scenario(pool: FunctionPool) -> tuple[list[BaseException], dict[str, Any]]:
        failures = []
        for _ in range(2):
            with pytest.raises(InvocationFailed) as failure:
                await _invoke(pool, {})
            failures.append(failure.value)
        return failures, pool.snapshot()

    failures, stats = _run(function, settings, log, scenario)
    assert all(f.kind == "init" and f.error_type == "Runtime.ImportModuleError" for f in failures)
    assert stats["init_failures"] == 2 and stats["environments"] == 0
    text = log.read_text()
    assert "Unable to import module 'toy': No module named 'not_in_the_zip'" in text
    assert "INIT_REPORT Init Duration:" in text


def test_host_packages_are_not_importable(tmp_path: Path, settings: LaunchSettings) -> None:
    async def scenario(pool: FunctionPool) -> tuple[InvocationResult, InvocationResult]:
        return (
            await _invoke(pool, {"action": "import", "module": "boto3"}),
            await _invoke(pool, {"action": "import", "module": "pydantic"}),
        )

    boto3_import, pydantic_import = _run(_function(tmp_path), settings, tmp_path / "toy.log", scenario)
    assert boto3_import.ok  # provided by the Lambda Python runtime
    assert not pydantic_import.ok and pydantic_import.error["errorType"] == "ModuleNotFoundError"


def test_burst_beyond_the_pool_waits(tmp_path: Path, settings: LaunchSettings) -> None:
    async def scenario(pool: FunctionPool) -> tuple[list[InvocationResult], dict[str, Any]]:
        results = await asyncio.gather(*(_invoke(pool, {"action": "sleep", "seconds": 0.1}) for _ in range(3)))
        return list(results), pool.snapshot()

    results, stats = _run(_function(tmp_path), settings, tmp_path / "toy.log", scenario, size=1)
    assert all(r.ok for r in results)
    assert len({r.payload["pid"] for r in results}) == 1
    assert stats["cold_starts"] == 1 and stats["queue_waits"] == 2
    assert stats["queue_wait_ms_max"] >= 100


def test_abandoned_invocation_never_runs(tmp_path: Path, settings: LaunchSettings) -> None:
    log = tmp_path / "toy.log"

    async def scenario(pool: FunctionPool) -> dict[str, Any]:
        busy = pool.submit("busy", json.dumps({"action": "sleep", "seconds": 0.3}).encode())
        queued = pool.submit("queued", json.dumps({"action": "ok"}).encode())
        queued.abandon()
        await busy.future
        await asyncio.sleep(0.1)
        assert not queued.future.done()
        return pool.snapshot()

    stats = _run(_function(tmp_path), settings, log, scenario, size=1)
    assert stats["invocations"] == 1 and stats["abandoned"] == 1
    assert "RequestId: queued" not in log.read_text()


def test_zero_reserved_concurrency_throttles(tmp_path: Path, settings: LaunchSettings) -> None:
    async def scenario(pool: FunctionPool) -> InvocationFailed:
        with pytest.raises(InvocationFailed) as failure:
            await _invoke(pool, {})
        return failure.value

    failure = _run(_function(tmp_path, reserved_concurrency=0), settings, tmp_path / "toy.log", scenario)
    assert failure.kind == "throttled"


def test_function_variables_cannot_override_reserved_ones(tmp_path: Path, settings: LaunchSettings) -> None:
    function = _function(tmp_path, environment={"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://x", "A": "b"})
    env = function_environment(function, settings, "stream")
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL"] == "http://x"  # not reserved: the function's own value stands
    assert env["A"] == "b"
    assert "HOME" not in env


def test_line_writer_writes_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    writer = runtime.LineWriter(fd)
    writer.write("a")
    writer.write("b\nc")
    assert path.read_text() == "ab\n"
    writer.end_line()
    writer.end_line()
    assert path.read_text() == "ab\nc\n"
    os.close(fd)


def test_report_line_format() -> None:
    text = runtime.end_lines("r1", duration_ms=1.234, memory_mb=128, max_memory_mb=40, init_ms=100.0)
    assert text == (
        "END RequestId: r1\n"
        "REPORT RequestId: r1\tDuration: 1.23 ms\tBilled Duration: 102 ms\tMemory Size: 128 MB"
        "\tMax Memory Used: 40 MB\tInit Duration: 100.00 ms\n"
    )


def test_frames_round_trip() -> None:
    frame = runtime.encode_frame({"type": "x", "text": "é"})
    assert runtime.read_frame(io.BytesIO(frame)) == {"type": "x", "text": "é"}
    assert runtime.read_frame(io.BytesIO(frame[:-1])) is None
    assert runtime.read_frame(io.BytesIO(b"")) is None


def test_kill_from_outside_is_a_crash(tmp_path: Path, settings: LaunchSettings) -> None:
    async def scenario(pool: FunctionPool) -> tuple[InvocationFailed, InvocationResult]:
        await _invoke(pool, {"action": "ok"})
        slow = pool.submit("slow", json.dumps({"action": "sleep", "seconds": 5}).encode())
        await asyncio.sleep(0.2)
        os.kill(pool.snapshot()["busy_pids"][0], signal.SIGKILL)
        with pytest.raises(InvocationFailed) as failure:
            await slow.future
        return failure.value, await _invoke(pool, {"action": "ok"})

    failure, after = _run(_function(tmp_path), settings, tmp_path / "toy.log", scenario)
    assert failure.kind == "crash" and "signal: killed" in str(failure)
    assert after.ok
