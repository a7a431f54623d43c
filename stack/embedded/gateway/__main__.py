"""``python -m stack.embedded.gateway``: serve one stage of a deployed REST API from the emulator.

    python -m stack.embedded.gateway --endpoint-url URL --rest-api-id ID --stage STAGE \
        --log-dir DIR --ready-file PATH [--host 127.0.0.1] [--port 0] [--region us-east-1] \
        [--state-dir DIR] [--host-site-packages] [--exit-with-parent] [--stack-name NAME] [--python PATH] \
        [HTTP limits: --header-timeout S, --max-connections N, ... (see --help)]

Writes ``{"url", "port", "pid"}`` to the ready file once listening; SIGTERM stops it and
every execution environment.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stack.embedded.gateway.discovery import DefinitionError
from stack.embedded.gateway.http_server import HttpLimits
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
    parser.add_argument("--stack-name", help="also serve this stack's SQS event source mappings (the event plane)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter functions run on (default: this one)")
    defaults = HttpLimits()
    limits = parser.add_argument_group("HTTP limits (docs/gateway.md)")
    for option, name, kind, help_text in (
        ("--header-timeout", "header_timeout_s", float, "seconds for a request's head to arrive (408)"),
        ("--body-timeout", "body_timeout_s", float, "seconds for a body to arrive after its head (408)"),
        ("--keep-alive-timeout", "keep_alive_timeout_s", float, "seconds an idle keep-alive connection stays open"),
        ("--send-timeout", "send_timeout_s", float, "seconds a client may leave its answers unread"),
        ("--linger", "linger_s", float, "seconds input is read and dropped after an error answer"),
        ("--max-connections", "max_connections", int, "open connections; beyond them a new one gets 503"),
        ("--max-request-line-bytes", "max_request_line_bytes", int, "request line length (414)"),
        ("--max-header-line-bytes", "max_header_line_bytes", int, "one header line's length (431)"),
        ("--max-header-count", "max_header_count", int, "headers per request (431)"),
        ("--max-header-bytes", "max_header_bytes", int, "request line + header values, API Gateway's count (431)"),
    ):
        limits.add_argument(option, dest=name, type=kind, default=getattr(defaults, name), help=help_text)
    args = parser.parse_args(argv)
    try:
        http_limits = HttpLimits(**{name: getattr(args, name) for name in HttpLimits.__dataclass_fields__})
    except ValueError as error:
        parser.error(str(error))
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
        http_limits=http_limits,
        stack_name=args.stack_name,
        python=args.python,
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
