"""``python -m stack.embedded.event_plane``: serve the SQS event source mappings of one stack.

    python -m stack.embedded.event_plane --endpoint-url URL --stack-name NAME --log-dir DIR \
        --state-dir DIR --ready-file PATH [--region us-east-1] [--host-site-packages] [--exit-with-parent]

Writes ``{"pid", "mappings", "stats_file"}`` to the ready file once every mapping is polled;
SIGTERM stops polling, lets batches in flight finish, hands the mappings back to the emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from stack.embedded.event_plane.plane import EventPlane, EventPlaneOptions
from stack.embedded.gateway.discovery import DefinitionError
from stack.embedded.processes import write_json_atomically

EXIT_DEFINITION_ERROR = 2
PARENT_CHECK_INTERVAL_S = 1.0
STATS_FILE_NAME = "event-plane.stats.json"


def parse_args(argv: list[str] | None = None) -> tuple[EventPlaneOptions, Path, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m stack.embedded.event_plane", description="Serve the SQS event source mappings of one stack."
    )
    parser.add_argument("--endpoint-url", required=True, help="the emulator, e.g. http://127.0.0.1:4566")
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--log-dir", required=True, type=Path, help="one <function>.log per function")
    parser.add_argument("--state-dir", required=True, type=Path, help="unpacked code, runtime files, stats")
    parser.add_argument("--ready-file", required=True, type=Path)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--host-site-packages", action="store_true")
    parser.add_argument("--python", default=sys.executable, help="the interpreter functions run on")
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the starting process goes away")
    args = parser.parse_args(argv)
    options = EventPlaneOptions(
        endpoint_url=args.endpoint_url.rstrip("/"),
        stack_name=args.stack_name,
        region=args.region,
        log_dir=args.log_dir,
        state_dir=args.state_dir,
        stats_file=args.state_dir / STATS_FILE_NAME,
        host_site_packages=args.host_site_packages,
        python=args.python,
    )
    return options, args.ready_file, args.exit_with_parent


async def serve(options: EventPlaneOptions, ready_file: Path, exit_with_parent: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    plane = EventPlane(options)
    try:
        await plane.start()
        write_json_atomically(
            ready_file,
            {
                "pid": os.getpid(),
                "mappings": [p.mapping.label for p in plane.pollers],
                "stats_file": str(options.stats_file),
            },
        )
        parent = os.getppid()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PARENT_CHECK_INTERVAL_S)
            if exit_with_parent and os.getppid() != parent:
                logging.getLogger("stack.embedded.event_plane").warning("parent process %d went away", parent)
                stop.set()
    finally:
        await plane.stop()
        with contextlib.suppress(FileNotFoundError):
            ready_file.unlink()


def main(argv: list[str] | None = None) -> int:
    options, ready_file, exit_with_parent = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(serve(options, ready_file, exit_with_parent))
    except DefinitionError as exc:
        logging.getLogger("stack.embedded.event_plane").error("%s", exc)
        return EXIT_DEFINITION_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
