"""Where clients put the tenant token: a header or a query-string parameter, chosen by the stage's
configuration and threaded through the CLI client, the drills' sender and the load test."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from loadtests.cli import check_url, token_placement
from loadtests.launcher import LocustRun
from loadtests.locust.options import token_placement_from
from loadtests.model.params import LoadParams
from loadtests.warmup import warm_up
from stack.clients.token_placement import DEFAULT_IDENTITY_HEADER, TokenPlacement
from stack.clients.webhook_client import ApiClient
from stack.config import HookstackConfig, load_config
from stack.errors import HookstackError

TOKEN = "tok a&b=c+d/é"  # every character that means something in a query string


# --- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["token", "Token_2", "x-key", "a" * 64])
def test_identity_query_parameter_accepts_plain_names(name):
    assert HookstackConfig(identity_query_parameter=name).identity_query_parameter == name


@pytest.mark.parametrize("name", ["", "a" * 65, "to ken", "token&x", "tok=en", "tok.en", "token\n", "tökén"])
def test_identity_query_parameter_refuses_anything_else(name):
    with pytest.raises(ValidationError):
        HookstackConfig(identity_query_parameter=name)


def test_identity_query_parameter_is_read_from_the_config_file(isolated_home):
    assert load_config().identity_query_parameter is None
    Path("hookstack.toml").write_text('[hookstack]\nidentity_query_parameter = "token"\n')
    assert load_config().identity_query_parameter == "token"
    Path("hookstack.toml").write_text('[hookstack]\nidentity_query_parameter = "to ken"\n')
    with pytest.raises(HookstackError, match="invalid configuration.*identity_query_parameter"):
        load_config()


def test_the_stage_configuration_decides_the_placement():
    assert HookstackConfig().token_placement == TokenPlacement.in_header(DEFAULT_IDENTITY_HEADER)
    assert HookstackConfig(identity_header="X-Api-Key").token_placement == TokenPlacement.in_header("X-Api-Key")
    assert HookstackConfig(identity_query_parameter="token").token_placement == TokenPlacement.in_query("token")


# --- the placement itself ------------------------------------------------------------------------


def test_a_header_placement_adds_the_header_and_leaves_the_path_alone():
    placement = TokenPlacement.in_header("X-Api-Key")
    assert placement.headers("t1") == {"X-Api-Key": "t1"}
    assert placement.path("/dev/webhooks/shopify?a=1", "t1") == "/dev/webhooks/shopify?a=1"
    assert TokenPlacement() == TokenPlacement.in_header(DEFAULT_IDENTITY_HEADER)


def test_a_query_placement_appends_the_encoded_token_and_adds_no_header():
    placement = TokenPlacement.in_query("token")
    assert placement.headers(TOKEN) == {}
    path = placement.path("/dev/webhooks/shopify", TOKEN)
    assert path == "/dev/webhooks/shopify?token=tok%20a%26b%3Dc%2Bd%2F%C3%A9"
    assert parse_qs(urlsplit(path).query) == {"token": [TOKEN]}


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/events/e1?verbose=1", "/events/e1?verbose=1&token=t1"),
        ("/events/e1?", "/events/e1?token=t1"),
        ("/events/e1?a=1&", "/events/e1?a=1&token=t1"),
    ],
)
def test_a_query_placement_keeps_an_existing_query_string(path, expected):
    assert TokenPlacement.in_query("token").path(path, "t1") == expected


def test_the_token_goes_in_exactly_one_place():
    with pytest.raises(ValueError):
        TokenPlacement(header="X-Api-Key", query_parameter="token")
    with pytest.raises(ValueError):
        TokenPlacement(header=None, query_parameter=None)


def test_a_placement_describes_itself_without_any_token():
    assert TokenPlacement.in_query("token").describe() == "query parameter 'token'"
    assert TokenPlacement.in_header("X-Api-Key").describe() == "header 'X-Api-Key'"


# --- clients -------------------------------------------------------------------------------------


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 202 to anything; keeps each request's target and headers."""

    seen: list[tuple[str, dict[str, str]]] = []

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Recorder.seen.append((self.path, dict(self.headers)))
        body = json.dumps({"id": "evt_1"}).encode()
        self.send_response(202)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


def has_token_header(headers: dict[str, str]) -> bool:
    return any(name.lower() == DEFAULT_IDENTITY_HEADER.lower() for name in headers)


@pytest.fixture()
def recorder():
    Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/dev"
    server.shutdown()
    server.server_close()


def test_the_api_client_sends_the_token_where_the_stage_reads_it(recorder):
    client = ApiClient(recorder, TOKEN, TokenPlacement.in_query("token"))
    try:
        assert client.post_webhook("shopify", b"{}", {"X-Shopify-Topic": "orders/create"}).status == 202
        assert client.event_status("evt_1").status == 202
    finally:
        client.close()
    (post, post_headers), (get, _) = Recorder.seen
    assert urlsplit(post).path == "/dev/webhooks/shopify" and urlsplit(get).path == "/dev/events/evt_1"
    assert parse_qs(urlsplit(post).query) == {"token": [TOKEN]} == parse_qs(urlsplit(get).query)
    assert not has_token_header(post_headers) and post_headers["X-Shopify-Topic"] == "orders/create"

    client = ApiClient(recorder, "t1")
    try:
        client.post_webhook("shopify", b"{}", {})
    finally:
        client.close()
    path, headers = Recorder.seen[-1]
    assert path == "/dev/webhooks/shopify" and headers[DEFAULT_IDENTITY_HEADER] == "t1"


def test_a_failed_request_does_not_name_the_token():
    client = ApiClient("http://127.0.0.1:9/dev", "tok_secret_1", TokenPlacement.in_query("token"), timeout=2)
    with pytest.raises(HookstackError) as failure:
        client.post_webhook("shopify", b"{}", {})
    assert "/dev/webhooks/shopify" in str(failure.value) and "tok_secret_1" not in str(failure.value)


def test_the_warm_up_sends_the_token_in_the_query_and_reports_no_url(recorder):
    summary = warm_up(
        recorder,
        token="tok_secret_1",
        placement=TokenPlacement.in_query("token"),
        provider="shopify",
        secret="s",
        requests=3,
        seed=1,
    )
    assert summary["status_counts"] == {"202": 3}
    assert {path for path, _ in Recorder.seen} == {"/dev/webhooks/shopify?token=tok_secret_1"}
    assert not any(has_token_header(headers) for _, headers in Recorder.seen)
    assert "tok_secret_1" not in json.dumps(summary)


# --- the load test's plumbing --------------------------------------------------------------------


def test_a_bare_url_takes_the_header_unless_told_the_query_parameter():
    assert token_placement(None, None) == TokenPlacement.in_header(DEFAULT_IDENTITY_HEADER)
    assert token_placement(None, "token") == TokenPlacement.in_query("token")


def test_a_deployed_stage_decides_and_a_contradicting_flag_is_refused(isolated_home):
    stage = SimpleNamespace(stage="qa")
    assert token_placement(stage, None) == TokenPlacement.in_header(DEFAULT_IDENTITY_HEADER)
    with pytest.raises(HookstackError, match="reads the token from its header 'X-Hookstack-Token'"):
        token_placement(stage, "token")
    Path("hookstack.toml").write_text('[hookstack]\nidentity_query_parameter = "token"\n')
    assert token_placement(stage, None) == TokenPlacement.in_query("token")
    assert token_placement(stage, "token") == TokenPlacement.in_query("token")
    with pytest.raises(HookstackError, match="query parameter 'token'"):
        token_placement(stage, "key")


def test_a_url_with_a_query_string_is_refused():
    check_url("http://127.0.0.1:8080/dev", allow_remote=False)
    with pytest.raises(HookstackError, match="no query string"):
        check_url("http://127.0.0.1:8080/dev?token=abc", allow_remote=False)


def _run(placement: TokenPlacement) -> LocustRun:
    return LocustRun(
        url="http://127.0.0.1:1/dev",
        params=LoadParams(),
        report_dir=Path("r"),
        token="tok_secret_1",
        token_placement=placement,
    )


def test_the_locust_child_is_told_the_placement_and_never_the_token():
    query = _run(TokenPlacement.in_query("token"))
    command = query.command(master_port=1)
    assert command[command.index("--token-query-parameter") + 1] == "token" and "--token-header" not in command
    assert "tok_secret_1" not in " ".join(command) and query.environment()["HOOKSTACK_TOKEN"] == "tok_secret_1"
    header = _run(TokenPlacement.in_header("X-Api-Key")).command(master_port=1)
    assert header[header.index("--token-header") + 1] == "X-Api-Key" and "--token-query-parameter" not in header


def test_locust_options_choose_the_placement():
    assert token_placement_from(
        SimpleNamespace(token_header="X-Api-Key", token_query_parameter="")
    ) == TokenPlacement.in_header("X-Api-Key")
    assert token_placement_from(
        SimpleNamespace(token_header=DEFAULT_IDENTITY_HEADER, token_query_parameter="t")
    ) == TokenPlacement.in_query("t")
