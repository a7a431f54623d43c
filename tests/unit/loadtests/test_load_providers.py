"""The load harness takes its providers from the client-side registry: secrets on the command line
and in the environment, Locust options, one user class per provider sending that provider's topics."""

from __future__ import annotations

import ast
import random

import pytest

from loadtests.cli import parse_secrets
from loadtests.launcher import LOCUSTFILE, LocustRun, user_classes
from loadtests.locust import options as load_options
from loadtests.model.params import LoadParams
from loadtests.model.traffic import UNKNOWN_SHOPIFY_TOPICS, BodySizes, ProviderTraffic
from stack.clients.providers import PROVIDERS, REGISTRY
from stack.errors import HookstackError


def test_secrets_from_the_environment_then_the_command_line():
    environ = {"HOOKSTACK_SHOPIFY_SECRET": "from-env", "HOOKSTACK_STANDARD_WEBHOOKS_SECRET": "whsec_ZW52"}
    assert parse_secrets(None, environ) == {"shopify": "from-env", "standard-webhooks": "whsec_ZW52"}
    given = parse_secrets(["shopify=from-flag", "github=a=b"], environ)
    assert given == {"shopify": "from-flag", "standard-webhooks": "whsec_ZW52", "github": "a=b"}


@pytest.mark.parametrize(
    "value, fragment", [("shopify", "PROVIDER=VALUE"), ("shopify=", "PROVIDER=VALUE"), ("paypal=x", "paypal")]
)
def test_a_malformed_secret_option_is_one_clear_error(value, fragment):
    with pytest.raises(HookstackError, match=fragment):
        parse_secrets([value], {})


def test_every_provider_has_one_locust_user_class():
    classes = user_classes()
    assert set(classes) == set(PROVIDERS)
    assert len(set(classes.values())) == len(classes)
    run = LocustRun(
        url="http://127.0.0.1:1/dev", params=LoadParams(), report_dir=LOCUSTFILE.parent, providers=list(PROVIDERS)
    )
    assert run.command()[-len(PROVIDERS) :] == [classes[p] for p in PROVIDERS]


def test_the_launcher_passes_each_secret_in_its_environment_variable():
    run = LocustRun(
        url="http://127.0.0.1:1/dev",
        params=LoadParams(),
        report_dir=LOCUSTFILE.parent,
        providers=["standard-webhooks"],
        secrets={"standard-webhooks": "whsec_c2VjcmV0"},
    )
    assert run.environment()["HOOKSTACK_STANDARD_WEBHOOKS_SECRET"] == "whsec_c2VjcmV0"


def test_the_users_send_their_provider_s_topics():
    """Every literal ``self.send("…")`` of a user class is a topic its provider's module models."""
    tree = ast.parse(LOCUSTFILE.read_text())
    classes = {name: provider for provider, name in user_classes().items()}
    seen = set()
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name not in classes:
            continue
        provider = classes[node.name]
        for call in ast.walk(node):
            if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "send" and call.args:
                argument = call.args[0]
                if isinstance(argument, ast.Constant):
                    assert argument.value in REGISTRY[provider].topics, (node.name, argument.value)
                    seen.add((provider, argument.value))
    assert {p for p, _ in seen} == set(PROVIDERS)


class FakeParser:
    def __init__(self):
        self.options: dict[str, dict] = {}

    def add_argument(self, name, **kwargs):
        self.options[name] = kwargs


def test_locust_has_a_secret_option_per_provider():
    parser = FakeParser()
    load_options.register(parser)
    option = parser.options["--standard-webhooks-secret"]
    assert option["dest"] == "standard_webhooks_secret" == load_options.secret_option("standard-webhooks")
    assert option["env_var"] == "HOOKSTACK_STANDARD_WEBHOOKS_SECRET" and option["is_secret"] is True
    assert {f"--{p}-secret" for p in PROVIDERS} <= set(parser.options)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_traffic_for_every_provider(provider):
    traffic = ProviderTraffic(REGISTRY[provider].new_secret(), random.Random(2), BodySizes(256 * 1024))
    deliveries = [traffic.delivery(provider, REGISTRY[provider].default_topic) for _ in range(50)]
    assert {d.provider for d in deliveries} == {provider}
    assert {d.group_key for d in deliveries} <= set(REGISTRY[provider].sample_group_keys)
    assert len({d.delivery_id for d in deliveries}) == 50
    padded = any(len(d.body) > 16 * 1024 for d in deliveries)
    assert padded or not REGISTRY[provider].large_bodies


def test_unknown_shopify_topics_stay_unknown():
    assert not set(UNKNOWN_SHOPIFY_TOPICS) & set(REGISTRY["shopify"].topics)
