"""A stage that reads the tenant token from the query string, as a real provider's webhook URL
carries it: ``…/webhooks/shopify?token=…``. Deployed beside the session's stage on the same
embedded emulator (stopped with it by the session fixture's ``down``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stack.clients.providers.shopify import shopify_delivery
from stack.clients.token_placement import TokenPlacement
from stack.clients.webhook_client import ApiClient, Response
from stack.config import load_config
from stack.deploy.outputs import StackOutputs, provider_secret, tenant_token
from stack.embedded.gateway.process import read_stats
from stack.embedded.lifecycle import up
from tests.helpers.status_polling import wait_for_status

pytestmark = pytest.mark.integration

STAGE = "qtoken"
IN_QUERY = TokenPlacement.in_query("token")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    """The stage's settings as a user keeps them; the CLI commands below read the same file."""
    path = tmp_path_factory.mktemp("query-token") / "hookstack.toml"
    path.write_text('[hookstack]\nidentity_query_parameter = "token"\n')
    return path


@pytest.fixture(scope="module")
def query_stage(embedded_stack, config_file) -> StackOutputs:
    config = load_config(config_file, stage=STAGE)
    assert config.identity_query_parameter == "token"
    return up(config).outputs


@pytest.fixture(scope="module")
def token(query_stage) -> str:
    return tenant_token(query_stage)


@pytest.fixture(scope="module")
def secret(query_stage) -> str:
    return provider_secret(query_stage, "shopify")


@pytest.fixture(scope="module")
def query_client(query_stage, token):
    client = ApiClient(query_stage.api_url, token, IN_QUERY)
    yield client
    client.close()


def _post(outputs: StackOutputs, delivery, token: str, placement: TokenPlacement) -> Response:
    client = ApiClient(outputs.api_url, token, placement)
    try:
        return client.post_webhook("shopify", delivery.body, delivery.headers)
    finally:
        client.close()


def _bare(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None) -> int:
    """A request carrying no token at all."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _authorizer_invocations(outputs: StackOutputs) -> int | None:
    """How often the hookstack data plane called the authorizer (None on other gateways)."""
    if outputs.gateway != "hookstack":
        return None
    return sum(read_stats(outputs.api_url)["authorizers"]["invocations"].values())


def _delivery_parts(secret: str) -> tuple[bytes, dict[str, str]]:
    delivery = shopify_delivery("orders/create", secret)
    return delivery.body, delivery.headers


def test_signed_delivery_with_the_token_in_the_query_is_acknowledged_then_processed(query_client, secret):
    response = query_client.post_webhook("shopify", *_delivery_parts(secret))
    assert response.status == 202, response.body
    ack = response.json()
    assert "token=" not in ack["status_url"]  # the ack never echoes the token
    status = wait_for_status(query_client, ack["id"], {"PROCESSED", "DEAD_LETTERED"})
    assert status["status"] == "PROCESSED", status


def test_without_the_token_is_unauthorized_before_the_authorizer_runs(query_stage, secret):
    body, headers = _delivery_parts(secret)
    before = _authorizer_invocations(query_stage)
    assert _bare(f"{query_stage.api_url}/webhooks/shopify", "POST", body, headers) == 401
    assert _bare(f"{query_stage.api_url}/webhooks/shopify?other=x", "POST", body, headers) == 401
    assert _authorizer_invocations(query_stage) == before  # API Gateway refuses it itself


def test_the_token_in_the_header_is_unauthorized_on_this_stage(query_stage, token, secret):
    response = _post(query_stage, shopify_delivery("orders/create", secret), token, TokenPlacement.in_header())
    assert response.status == 401, response.body


def test_a_wrong_token_in_the_query_is_forbidden(query_stage, secret):
    response = _post(query_stage, shopify_delivery("orders/create", secret), "not-the-token", IN_QUERY)
    assert response.status == 403, response.body


def test_the_status_endpoint_takes_the_token_in_the_query(query_stage, query_client, secret):
    ack = query_client.post_webhook("shopify", *_delivery_parts(secret)).json()
    response = query_client.event_status(ack["id"])
    assert response.status == 200 and response.json()["id"] == ack["id"], response.body
    assert _bare(f"{query_stage.api_url}/events/{ack['id']}") == 401


def test_cli_send_and_status_put_the_token_in_the_query(query_stage, config_file):
    from stack.cli import app

    env = {"HOOKSTACK_CONFIG": str(config_file)}
    sent = CliRunner().invoke(app, ["send", "--stage", STAGE, "--json"], env=env)
    assert sent.exit_code == 0, sent.output
    event_id = json.loads(sent.stdout)["id"]
    status = CliRunner().invoke(app, ["status", event_id, "--stage", STAGE, "--json"], env=env)
    assert status.exit_code == 0 and json.loads(status.stdout)["id"] == event_id, status.output


def test_a_load_run_puts_the_token_in_the_query_and_never_in_its_reports(query_stage, token, config_file, tmp_path):
    report_dir = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.cli",
            "--report-dir",
            str(report_dir),
            "--target",
            "embedded",
            "--stage",
            STAGE,
            "--rate",
            "5",
            "--duration",
            "2s",
            "--warmup",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HOOKSTACK_CONFIG": str(config_file)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["warmup"]["status_counts"] == {"202": 2}
    assert summary["status_counts"] == {"202": summary["requests"]} and summary["missing"] == 0
    for written in report_dir.iterdir():
        assert token not in written.read_text(errors="replace"), written.name
    assert token not in done.stdout + done.stderr
