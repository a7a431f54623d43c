"""Init Duration of hookstack's execution environments on each functions interpreter: the host's
(the embedded target's stand-in) against the declared runtime's, e.g. python3.12.

    python benchmarks/function_init.py [--runtime python3.12] [--rounds 15]

For each interpreter the artifact the embedded target would deploy is built (the local platform for
the declared runtime, the host platform for the host) and unpacked, then the stack's API and queue
functions (authorizer, producer, status, worker) are cold-started in interleaved rounds, one
environment at a time, as the gateway starts them: process start to handler module imported, the
``init_ms`` the gateway reports. Prints min / median / p90 per function and interpreter. No
emulator is needed (init makes no AWS call). Figures move with what else runs on the machine: run it
on a quiet one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stack.deploy.package import build_artifact, host_platform, local_platform  # noqa: E402
from stack.embedded.gateway.definition import FunctionSpec  # noqa: E402
from stack.embedded.gateway.environment import (  # noqa: E402
    RUNTIME_PROVIDED_PACKAGES,
    ExecutionEnvironment,
    LaunchSettings,
    prepare_runtime_libs,
)
from stack.embedded.interpreters import host_python, prepare_runtime_dir, resolve  # noqa: E402
from stack.home import build_dir  # noqa: E402

FUNCTIONS = {
    "authorizer": "handlers.authorizer.handler",
    "producer": "handlers.producer.handler",
    "status": "handlers.status.handler",
    "worker": "handlers.worker.handler",
}
# What the stack's template gives them (import reads some of these).
ENVIRONMENT = {
    "QUEUE_URL": "http://127.0.0.1:9/000000000000/q.fifo",
    "EVENTS_TABLE": "events",
    "PROJECTIONS_TABLE": "projections",
    "PAYLOAD_BUCKET": "payloads",
    "POWERTOOLS_SERVICE_NAME": "bench",
}


async def cold_start(function: FunctionSpec, settings: LaunchSettings, log_fd: int) -> float:
    environment = ExecutionEnvironment(function, 0, settings, log_fd, lambda *_: None, lambda *_: None)
    try:
        return await environment.start()
    finally:
        environment.kill()
        await environment.wait_exit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    declared = resolve(args.runtime)
    if not declared.declared:
        print(f"{args.runtime}: {declared.reason}; only the host interpreter can be measured", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="function-init-") as scratch:
        root = Path(scratch)
        declared = prepare_runtime_dir(declared, root / "runtimes", RUNTIME_PROVIDED_PACKAGES)
        host = host_python(args.runtime, "measured for comparison")
        interpreters = {}
        for label, python, platform in (
            (f"host {host.version}", sys.executable, host_platform()),
            (f"{args.runtime} {declared.version}", declared.runtime_python or "", local_platform(declared.minor)),
        ):
            code = root / platform.key
            with zipfile.ZipFile(build_artifact(platform, build_dir())) as archive:
                archive.extractall(code)
            state = root / f"state-{platform.key}"
            settings = LaunchSettings("http://127.0.0.1:9", "us-east-1", state, prepare_runtime_libs(state), python)
            interpreters[label] = (code, settings)
        log_fd = os.open(root / "functions.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        figures: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name, handler in FUNCTIONS.items():
                for label, (code, settings) in interpreters.items():
                    function = FunctionSpec(
                        name=name,
                        arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
                        handler=handler,
                        runtime=args.runtime,
                        timeout_s=10,
                        memory_mb=256,
                        environment=ENVIRONMENT,
                        reserved_concurrency=None,
                        code_dir=code,
                        code_sha256="",
                    )
                    figures.setdefault((name, label), []).append(asyncio.run(cold_start(function, settings, log_fd)))
        os.close(log_fd)
    print(f"init ms over {args.rounds} cold starts each (min / median / p90), interleaved")
    for (name, label), values in sorted(figures.items()):
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        print(f"  {name:<11} {label:<18} {ordered[0]:7.1f} {statistics.median(ordered):7.1f} {p90:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
