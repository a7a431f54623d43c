"""hookstack on LocalStack in a container: deploy with the CLI, then a signed Shopify
``orders/create`` is acknowledged (202) and reaches PROCESSED; destroy removes the stack.

LocalStack runs through the ``testcontainers`` LocalStack module and needs a Docker engine: it
runs each Lambda as a sibling container, so it gets the engine's socket. Without a reachable
engine every test here is skipped with the reason. The image defaults to 4.14.0, the last tag
that starts without an auth token; ``HOOKSTACK_LOCALSTACK_IMAGE`` picks another and
``LOCALSTACK_AUTH_TOKEN`` is passed through when set.

The stack is driven through the ``hookstack`` command exactly as a user would, each call bounded
in time; its state lives in a private ``HOOKSTACK_HOME``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCALSTACK_IMAGE = os.environ.get("HOOKSTACK_LOCALSTACK_IMAGE", "localstack/localstack:4.14.0")
EDGE_PORT = 4566
DEPLOY_TIMEOUT_S = 900  # first deploy builds the manylinux artifact and pulls the Lambda image
PROCESSED_TIMEOUT_S = 180  # LocalStack starts a Lambda container on first invocation
CLI_TIMEOUT_S = 60


def _engine_socket() -> tuple[str | None, str | None]:
    """(unix socket path of the Docker engine, None) or (None, why this test cannot run)."""
    try:
        import docker
    except ImportError as exc:
        return None, f"the docker SDK is not installed ({exc})"
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        return None, (
            f"DOCKER_HOST={host}: LocalStack needs the engine's unix socket mounted to "
            "run Lambdas, and published ports here bind 127.0.0.1 only"
        )
    client = None
    try:
        client = docker.from_env(timeout=3)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises several kinds for "nothing there"
        return None, f"no Docker engine reachable at {host}: {exc}"
    finally:
        if client is not None:
            client.close()
    return host.removeprefix("unix://"), None


SOCKET, UNAVAILABLE = _engine_socket()

pytestmark = [
    pytest.mark.docker,
    pytest.mark.integration,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"LocalStack tests skipped: {UNAVAILABLE}"),
]


def _hookstack() -> list[str]:
    script = Path(sys.executable).with_name("hookstack")
    return [str(script)] if script.exists() else [sys.executable, "-m", "stack.cli"]


def run_cli(home: Path, *args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOOKSTACK_HOME": str(home)}
    return subprocess.run([*_hookstack(), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def localstack_url():
    from testcontainers.community.localstack import LocalStackContainer

    container = LocalStackContainer(image=LOCALSTACK_IMAGE, edge_port=EDGE_PORT, region_name="us-east-1")
    container.ports[str(EDGE_PORT)] = ("127.0.0.1",)  # random host port, loopback only
    container.with_volume_mapping(SOCKET, "/var/run/docker.sock", "rw")
    if os.environ.get("LOCALSTACK_AUTH_TOKEN"):
        container.with_env("LOCALSTACK_AUTH_TOKEN", os.environ["LOCALSTACK_AUTH_TOKEN"])
    container.start(timeout=180)
    try:
        yield f"http://127.0.0.1:{container.get_exposed_port(EDGE_PORT)}"
    finally:
        container.stop()


@pytest.fixture(scope="module")
def deployed(localstack_url, tmp_path_factory):
    home = tmp_path_factory.mktemp("hookstack-localstack")
    result = run_cli(
        home, "deploy", "--target", "localstack", "--endpoint-url", localstack_url, "--json", timeout=DEPLOY_TIMEOUT_S
    )
    assert result.returncode == 0, f"deploy failed:\n{result.stderr[-4000:]}"
    outputs = json.loads(result.stdout)
    return home, outputs


def test_deploy_records_the_localstack_invoke_url(deployed, localstack_url):
    _, outputs = deployed
    assert outputs["target"] == "localstack"
    assert outputs["endpoint_url"] == localstack_url
    api = urlparse(outputs["api_url"])
    assert (api.hostname, api.port) == ("127.0.0.1", urlparse(localstack_url).port)
    assert api.path.startswith(f"/_aws/execute-api/{outputs['api_id']}/")


def test_signed_order_is_accepted_then_processed(deployed):
    home, _ = deployed
    sent = run_cli(
        home, "send", "--target", "localstack", "--provider", "shopify", "--topic", "orders/create", "--json"
    )
    assert sent.returncode == 0, f"send failed:\n{sent.stdout}\n{sent.stderr[-2000:]}"
    ack = json.loads(sent.stdout)
    assert ack["status"] == 202, ack
    assert ack["id"].startswith("evt_"), ack

    deadline = time.monotonic() + PROCESSED_TIMEOUT_S
    last: dict = {}
    while time.monotonic() < deadline:
        polled = run_cli(home, "status", ack["id"], "--target", "localstack", "--json")
        if polled.stdout.strip():
            last = json.loads(polled.stdout)
            if last.get("status") in {"PROCESSED", "DEAD_LETTERED"}:
                break
        time.sleep(2)
    assert last.get("http_status") == 200 and last.get("status") == "PROCESSED", last


def test_destroy_removes_the_stack(deployed, localstack_url):
    home, outputs = deployed
    result = run_cli(home, "destroy", "--target", "localstack", "--endpoint-url", localstack_url, "--yes", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (home / f"outputs-localstack-{outputs['stage']}.json").exists()

    import boto3

    cloudformation = boto3.client(
        "cloudformation",
        endpoint_url=localstack_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    live = [
        s["StackName"] for s in cloudformation.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    assert outputs["stack_name"] not in live
