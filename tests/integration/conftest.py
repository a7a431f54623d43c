"""One embedded stack per test session, in a private hookstack home, torn down at the end."""

from __future__ import annotations

import os
import subprocess

import pytest

from stack.clients.webhook_client import ApiClient
from stack.config import load_config
from stack.deploy.outputs import StackOutputs, provider_secret, tenant_token
from stack.embedded.lifecycle import down, up
from stack.home import use_home


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory) -> StackOutputs:
    home = tmp_path_factory.mktemp("hookstack-home")
    config = load_config()
    gateway = os.environ.get("HOOKSTACK_TEST_GATEWAY", "hookstack")
    with use_home(home):
        try:
            yield up(config, gateway=gateway).outputs
        finally:
            down(config)
    leftovers = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True).stdout.split()
    assert not leftovers, f"processes left behind: {leftovers}"
    assert not (home / "embedded" / "tmp").exists()


@pytest.fixture(scope="session")
def api(embedded_stack) -> ApiClient:
    client = ApiClient(embedded_stack.api_url, tenant_token(embedded_stack))
    yield client
    client.close()


@pytest.fixture(scope="session")
def shopify_secret(embedded_stack) -> str:
    return provider_secret(embedded_stack, "shopify")
