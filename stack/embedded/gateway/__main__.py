"""``python -m stack.embedded.gateway``: serve one stage of a deployed REST API from the emulator.

    python -m stack.embedded.gateway --endpoint-url URL --rest-api-id ID --stage STAGE \
        --log-dir DIR --ready-file PATH [--host 127.0.0.1] [--port 0] [--region us-east-1] \
        [--state-dir DIR] [--host-site-packages] [--exit-with-parent]

Writes ``{"url", "port", "pid"}`` to the ready file once listening; SIGTERM stops it and
every execution environment.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stack.embedded.gateway.discovery import DefinitionError
from stack.embedded.gateway.server import GatewayOptions, run

EXIT_DEFINITION_ERROR = 2


def parse_args(argv: list[str] | None = None) -> GatewayOptions:
    parser = argparse.ArgumentParser(
        prog="python -m stack.embedded.gateway", description="Serve one stage of a deployed REST API from the emulator."
    )
    parser.add_argument("--endpoint-url", required=True, help="the emulator, e.g. http://127.0.0.1:4566")
    parser.add_argument("--rest-api-id", required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--log-dir", required=True, type=Path, help="one <function>.log per function")
    parser.add_argument("--ready-file", required=True, type=Path, help='{"url", "port", "pid"} once listening')
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default=0, type=int, help="0: a free port")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument(
        "--state-dir", type=Path, help="unpacked code and runtime files (default: beside the ready file)"
    )
    parser.add_argument(
        "--host-site-packages",
        action="store_true",
        help="let functions import this interpreter's installed packages (default: only their zip, boto3 and stdlib)",
    )
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the starting process goes away")
    args = parser.parse_args(argv)
    return GatewayOptions(
        endpoint_url=args.endpoint_url.rstrip("/"),
        rest_api_id=args.rest_api_id,
        stage=args.stage,
        log_dir=args.log_dir,
        ready_file=args.ready_file,
        state_dir=args.state_dir or args.ready_file.parent / "gateway-state",
        host=args.host,
        port=args.port,
        region=args.region,
        host_site_packages=args.host_site_packages,
        exit_with_parent=args.exit_with_parent,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        run(options)
    except DefinitionError as exc:
        logging.getLogger("stack.embedded.gateway").error("%s", exc)
        return EXIT_DEFINITION_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
