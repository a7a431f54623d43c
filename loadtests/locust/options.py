"""hookstack's options on Locust's command line (each also settable by environment variable).

Locust sends custom options from the master to its workers with every spawn, so workers on
other machines run the same scenario without repeating them. Secrets are read from the
environment by the CLI and masked in the web UI.
"""

from __future__ import annotations

from typing import Any

from loadtests.model.params import MODES, SCENARIOS, LoadParams, parse_duration
from stack.clients.providers import PROVIDERS, secret_env_var
from stack.clients.token_placement import DEFAULT_IDENTITY_HEADER, TokenPlacement

DEFAULT_MAX_BODY_BYTES = 256 * 1024


def register(parser: Any) -> None:
    # On the parser itself: only Locust's parser (not an argument group) takes is_secret.
    group = parser
    group.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="steady",
        env_var="HOOKSTACK_SCENARIO",
        help="Load shape: steady, flash-sale, black-friday, retry-storm or partner-jobs",
    )
    group.add_argument(
        "--rate",
        type=float,
        default=20.0,
        env_var="HOOKSTACK_RATE",
        help="Base offered rate, requests/s for the whole run (all processes)",
    )
    group.add_argument("--duration", default="30s", env_var="HOOKSTACK_DURATION", help="Load duration (30s, 2m, 1h)")
    group.add_argument(
        "--mode",
        choices=MODES,
        default="open",
        env_var="HOOKSTACK_MODE",
        help="open: arrivals on a schedule, independent of response times; "
        "closed: users wait for each answer (coordinated omission corrected)",
    )
    group.add_argument(
        "--user-count",
        type=int,
        default=None,
        env_var="HOOKSTACK_USERS",
        help="Open model: users sharing the schedule (default: enough for the peak rate); "
        "closed model: users at the peak (default: one per request/s)",
    )
    group.add_argument(
        "--peak",
        type=float,
        default=None,
        env_var="HOOKSTACK_PEAK",
        help="Peak multiplier of flash-sale / black-friday / retry-storm",
    )
    group.add_argument(
        "--retry-share",
        type=float,
        default=None,
        env_var="HOOKSTACK_RETRY_SHARE",
        help="Share of retried deliveries during a retry storm",
    )
    group.add_argument(
        "--seed", type=int, default=None, env_var="HOOKSTACK_SEED", help="Seed for the delivery contents"
    )
    group.add_argument(
        "--groups",
        type=int,
        default=None,
        env_var="HOOKSTACK_GROUPS",
        help="Ordering keys per provider (shops, accounts, repositories): the message groups traffic spreads over",
    )
    group.add_argument(
        "--tail",
        type=float,
        default=10.0,
        env_var="HOOKSTACK_TAIL",
        help="Seconds allowed after the schedule for requests in flight to answer",
    )
    group.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        env_var="HOOKSTACK_MAX_BODY_BYTES",
        help="Largest body generated (the queue's MaximumMessageSize)",
    )
    group.add_argument(
        "--claim-check-bytes",
        type=int,
        default=200 * 1024,
        env_var="HOOKSTACK_CLAIM_CHECK_BYTES",
        help="partner-jobs: the stage's claim_check_bytes (inline attachments below, S3 above)",
    )
    group.add_argument(
        "--max-request-bytes",
        type=int,
        default=4 * 1024 * 1024,
        env_var="HOOKSTACK_MAX_REQUEST_BYTES",
        help="partner-jobs: the stage's body limit (max_request_bytes), which the largest attachment fits",
    )
    group.add_argument(
        "--cdc-table",
        default="",
        env_var="HOOKSTACK_CDC_TABLE",
        help="cdc-trickle: the stage's source table the sources write",
    )
    group.add_argument(
        "--cdc-run-id",
        default="",
        env_var="HOOKSTACK_CDC_RUN_ID",
        help="cdc-trickle: the prefix of this run's item ids and customers",
    )
    group.add_argument(
        "--aws-endpoint-url",
        default="",
        env_var="HOOKSTACK_AWS_ENDPOINT_URL",
        help="cdc-trickle: the target's AWS endpoint (an emulator's; empty on AWS); credentials from the environment",
    )
    group.add_argument(
        "--aws-region", default="", env_var="HOOKSTACK_AWS_REGION", help="cdc-trickle: the target's region"
    )
    group.add_argument(
        "--token-header",
        default=DEFAULT_IDENTITY_HEADER,
        env_var="HOOKSTACK_TOKEN_HEADER",
        help="Header carrying the tenant token",
    )
    group.add_argument(
        "--token-query-parameter",
        default="",
        env_var="HOOKSTACK_TOKEN_QUERY_PARAMETER",
        help="Query-string parameter carrying the tenant token, instead of the header",
    )
    group.add_argument("--token", default="", env_var="HOOKSTACK_TOKEN", is_secret=True, help="Tenant token")
    for provider in PROVIDERS:
        group.add_argument(
            f"--{provider}-secret",
            dest=secret_option(provider),
            default="",
            env_var=secret_env_var(provider),
            is_secret=True,
            help=f"{provider} signing secret",
        )
    group.add_argument(
        "--results-file",
        default="",
        env_var="HOOKSTACK_RESULTS_FILE",
        include_in_web_ui=False,
        help="Write the raw run result (JSON) here when the run ends",
    )
    group.add_argument(
        "--progress-file",
        default="",
        env_var="HOOKSTACK_PROGRESS_FILE",
        include_in_web_ui=False,
        help="Append one JSON progress line per second here",
    )


def secret_option(provider: str) -> str:
    """The parsed option holding a provider's signing secret (``--standard-webhooks-secret`` →
    ``standard_webhooks_secret``)."""
    return f"{provider.replace('-', '_')}_secret"


def token_placement_from(options: Any) -> TokenPlacement:
    if options.token_query_parameter:
        return TokenPlacement.in_query(options.token_query_parameter)
    return TokenPlacement.in_header(options.token_header)


def params_from(options: Any) -> LoadParams:
    return LoadParams(
        scenario=options.scenario,
        rate=float(options.rate),
        duration=parse_duration(options.duration),
        mode=options.mode,
        users=options.user_count,
        peak=options.peak,
        retry_share=options.retry_share,
        seed=options.seed,
        tail=float(options.tail),
        groups=options.groups,
    )
