"""The providers as one list: the server-side registry (handlers), the client-side one (signing,
deliberately separate) and everything derived from them agree, and each provider's two halves fit:
what the client module sends, the server module accepts and names the same way."""

from __future__ import annotations

import base64
import importlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.platform.api_gateway import lowercase_headers
from handlers.providers.registry import PROVIDERS as SERVER_PROVIDERS
from handlers.providers.registry import REGISTRY as SERVER
from handlers.providers.registry import model_for, module_name
from stack.clients import providers as client_providers
from stack.clients.providers import REGISTRY as CLIENT
from stack.config import PROVIDERS as CONFIG_PROVIDERS
from stack.config import HookstackConfig

ROOT = Path(__file__).resolve().parents[3]


def test_server_and_client_registries_name_the_same_providers():
    assert tuple(SERVER) == tuple(CLIENT) == SERVER_PROVIDERS == client_providers.PROVIDERS
    assert CONFIG_PROVIDERS == SERVER_PROVIDERS
    assert "standard-webhooks" in SERVER_PROVIDERS


@pytest.mark.parametrize("name", SERVER_PROVIDERS)
def test_each_provider_is_one_module_on_each_side(name):
    stem = name.replace("-", "_")
    assert module_name(name) == f"handlers.providers.{stem}"
    assert importlib.import_module(module_name(name)).PROVIDER is SERVER[name]
    assert SERVER[name].name == name
    assert importlib.import_module(f"stack.clients.providers.{stem}").PROVIDER is CLIENT[name]
    assert CLIENT[name].name == name


LAZY_REGISTRY = """
import sys
from handlers.providers.registry import PROVIDERS, REGISTRY

loaded = lambda: sorted(m for m in sys.modules if m.startswith("handlers.providers."))
assert "standard-webhooks" in REGISTRY and len(REGISTRY) == len(PROVIDERS) and list(REGISTRY) == list(PROVIDERS)
import handlers.authorizer
assert loaded() == ["handlers.providers.registry"], loaded()
REGISTRY["shopify"]
assert "handlers.providers.shopify" in loaded() and "handlers.providers.stripe" not in loaded()
"""


def test_the_registry_imports_a_provider_only_when_asked():
    # The authorizer needs the names only: no provider module (and no DTO) in its cold start.
    subprocess.run([sys.executable, "-c", LAZY_REGISTRY], check=True, cwd=ROOT, timeout=60)


def test_an_unknown_provider_is_not_in_the_registry():
    assert "paypal" not in SERVER and model_for("paypal", "x") is None
    with pytest.raises(KeyError):
        SERVER["paypal"]
    with pytest.raises(ValueError, match="unknown provider 'paypal': choose one of shopify, stripe, github"):
        client_providers.get("paypal")


@pytest.mark.parametrize("name", SERVER_PROVIDERS)
def test_a_client_delivery_is_accepted_and_named_alike_by_the_server(name):
    sender = CLIENT[name]
    assert sender.topics and sender.default_topic in sender.topics and sender.group_key_name
    secret = sender.new_secret()
    for seed, group_key in enumerate(sender.sample_group_keys[:3]):
        delivery = sender.delivery(sender.default_topic, secret, rng=random.Random(seed), group_key=group_key)
        assert delivery.provider == name and delivery.path == f"/webhooks/{name}"
        headers = lowercase_headers({"headers": delivery.headers})
        SERVER[name].verify(secret, delivery.body, headers)
        described = SERVER[name].describe(headers, json.loads(delivery.body))
        assert (described.provider, described.topic, described.delivery_id) == (
            name,
            delivery.topic,
            delivery.delivery_id,
        )
        assert (described.ordering_key or "") == delivery.group_key == group_key


@pytest.mark.parametrize("name", SERVER_PROVIDERS)
def test_drill_group_keys_are_what_the_server_orders_by(name):
    sender = CLIENT[name]
    key = sender.group_key("chaos-abc123-0")
    assert key == sender.group_key("chaos-abc123-0")
    delivery = sender.delivery(sender.default_topic, sender.new_secret(), rng=random.Random(1), group_key=key)
    described = SERVER[name].describe(lowercase_headers({"headers": delivery.headers}), json.loads(delivery.body))
    assert (described.ordering_key or "") == key


@pytest.mark.parametrize("name", SERVER_PROVIDERS)
def test_a_poison_body_is_accepted_by_the_producer_but_by_no_model(name):
    from pydantic import ValidationError

    sender = CLIENT[name]
    secret = sender.new_secret()
    original = sender.delivery(sender.default_topic, secret, rng=random.Random(4))
    body = sender.poison_body(json.loads(original.body), original.group_key)
    poisoned = sender.delivery(
        original.topic, secret, group_key=original.group_key, delivery_id=original.delivery_id, body=body
    )
    headers = lowercase_headers({"headers": poisoned.headers})
    SERVER[name].verify(secret, poisoned.body, headers)
    described = SERVER[name].describe(headers, json.loads(poisoned.body))
    assert described.delivery_id == original.delivery_id  # the same delivery, fixed by replaying the original
    with pytest.raises(ValidationError):
        model_for(name, described.topic).model_validate_json(poisoned.body)


# --- secrets ---------------------------------------------------------------------------------------


class FakeSsm:
    def __init__(self):
        self.values: dict[str, str] = {}

    def get_parameters(self, Names, WithDecryption):
        return {"InvalidParameters": [n for n in Names if n not in self.values]}

    def put_parameter(self, Name, Value, Type, Overwrite):
        self.values[Name] = Value


def test_generated_provider_secrets_take_each_provider_s_form():
    from standardwebhooks.webhooks import Webhook

    from stack.deploy.secrets import ensure_secrets, required_parameters

    config = HookstackConfig()
    ssm = FakeSsm()
    created = ensure_secrets(ssm, config, create=True)
    assert sorted(created) == sorted(required_parameters(config))
    for name in SERVER_PROVIDERS:
        assert config.provider_secret_parameter(name) in created
    standard = ssm.values[config.provider_secret_parameter("standard-webhooks")]
    assert standard.startswith("whsec_") and len(base64.b64decode(standard[6:], validate=True)) == 32
    Webhook(standard)  # usable by the reference implementation
    assert not ssm.values[config.provider_secret_parameter("shopify")].startswith("whsec_")
    assert ensure_secrets(ssm, config, create=True) == []  # never overwritten


def test_secret_environment_variables():
    assert [client_providers.secret_env_var(p) for p in SERVER_PROVIDERS] == [
        "HOOKSTACK_SHOPIFY_SECRET",
        "HOOKSTACK_STRIPE_SECRET",
        "HOOKSTACK_GITHUB_SECRET",
        "HOOKSTACK_STANDARD_WEBHOOKS_SECRET",
    ]


def test_every_tenant_may_send_every_provider_by_default():
    assert HookstackConfig().tenants[0].providers == list(SERVER_PROVIDERS)


# --- hookstack send ----------------------------------------------------------------------------------


def test_send_checks_the_provider_before_looking_anything_up(isolated_home):
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", "send", "--provider", "paypal"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: unknown provider 'paypal': choose one of shopify, stripe, github, standard-webhooks"]


class FakeResponse:
    status = 202
    latency_ms = 1.0

    def json(self):
        return {"id": "evt_0"}


@pytest.mark.parametrize("name", SERVER_PROVIDERS)
def test_send_signs_the_provider_s_default_topic(monkeypatch, name):
    from typer.testing import CliRunner

    import stack.deploy.outputs
    from stack.cli import delivery as cli_delivery
    from stack.cli.app import app

    sent = []
    secret = CLIENT[name].new_secret()

    class FakeClient:
        def post_webhook(self, provider, body, headers):
            sent.append((provider, body, headers))
            return FakeResponse()

    monkeypatch.setattr(cli_delivery, "_client", lambda target, stage: (object(), FakeClient()))
    monkeypatch.setattr(stack.deploy.outputs, "provider_secret", lambda outputs, provider: secret)
    result = CliRunner().invoke(app, ["send", "--provider", name])
    assert result.exit_code == 0, result.output
    [(provider, body, headers)] = sent
    headers = lowercase_headers({"headers": headers})
    SERVER[name].verify(secret, body, headers)
    assert provider == name and SERVER[name].describe(headers, json.loads(body)).topic == CLIENT[name].default_topic
