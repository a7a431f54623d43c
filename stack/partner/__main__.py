"""``python -m stack.partner``: the partner simulator as a child process (``process.launch``).

    python -m stack.partner [--ready-file PATH] [--port 0] [--callback-secret TENANT=whsec_...]...
        [--latency-ms N] [--error-rate F] [--rate-limit N] [--burst N] [--seed N] [--exit-with-parent]

Writes ``{"url", "port", "pid"}`` to the ready file once listening and logs one line per request
to stderr; SIGTERM stops it. Options it cannot use: one line, exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from stack.errors import HookstackError
from stack.partner.callbacks import parse_callback_secret
from stack.partner.faults import startup_faults
from stack.partner.server import PartnerOptions, RequestLine, log, run


def parse_args(argv: list[str] | None = None) -> PartnerOptions:
    parser = argparse.ArgumentParser(prog="python -m stack.partner", description="Serve the partner simulator.")
    parser.add_argument("--ready-file", type=Path, help='{"url", "port", "pid"} once listening')
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--callback-secret", action="append", default=[], metavar="TENANT=SECRET")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, help="trickle API requests per second")
    parser.add_argument("--burst", type=int, default=1, help="trickle API bucket size")
    parser.add_argument("--seed", type=int, default=0, help="seeds the error rate's draws")
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the starting process goes away")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}: expected 0 to 65535")
    try:
        secrets = dict(parse_callback_secret(text) for text in args.callback_secret)
        faults = startup_faults(
            latency_ms=args.latency_ms,
            error_rate=args.error_rate,
            rate_limit_per_s=args.rate_limit,
            burst=args.burst,
            seed=args.seed,
        )
    except HookstackError as exc:
        parser.error(str(exc))
    return PartnerOptions(
        port=args.port,
        callback_secrets=secrets,
        faults=faults,
        ready_file=args.ready_file,
        exit_with_parent=args.exit_with_parent,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    def observe(line: RequestLine) -> None:
        log.info("%s", line.describe())

    try:
        run(options, observe)
    except HookstackError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
