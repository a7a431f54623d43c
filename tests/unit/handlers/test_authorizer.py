"""REQUEST authorizer: token per tenant from Parameter Store, source-IP allow-list, stage-wide
policy, 401 semantics for a malformed token, nothing secret in the logs."""

from __future__ import annotations

import json

import pytest

from handlers.authorizer import TokenAuthorizer, Unauthorized, handle, stage_resource
from handlers.errors import ConfigurationError
from handlers.providers.registry import PROVIDERS
from handlers.stores.tenant_directory import TenantDirectory, parse_tenants

PATH = "/hookstack/dev/tenants/"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/POST/webhooks/shopify"
STAGE_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/*"

PARAMETERS = {
    "acme/token": "tok_acme_0123456789",
    "acme/providers": "shopify,stripe",
    "globex/token": "tok_globex_abcdef",
    "initech/token": "tok_initech_xyz",
    "initech/source-ips": "10.0.0.0/8, 192.168.1.7/32",
    "broken/token": "tok_broken_cidr",
    "broken/source-ips": "not-a-cidr",
    "notoken/providers": "github",
}


class FakeParameters:
    """Like Powertools' SSMProvider: answers from its cache unless forced (max_age not modelled)."""

    def __init__(self, values: dict[str, str]):
        self.values = dict(values)
        self.calls: list[dict] = []
        self._cached: dict[str, str] | None = None

    def get_multiple(self, path, max_age=None, decrypt=None, recursive=False, force_fetch=False, **_):
        self.calls.append(
            {"path": path, "max_age": max_age, "decrypt": decrypt, "recursive": recursive, "force_fetch": force_fetch}
        )
        if force_fetch or self._cached is None:
            self._cached = dict(self.values)
        return self._cached


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(values=PARAMETERS, header="X-Hookstack-Token"):
    fake = FakeParameters(values)
    clock = Clock()
    directory = TenantDirectory(lambda: fake, PATH, 300, clock=clock)
    return TokenAuthorizer(directory, header), fake, clock


def request(token=None, header="X-Hookstack-Token", source_ip="203.0.113.9", arn=METHOD_ARN, multi=False):
    headers = {} if token is None else {header: token}
    event = {
        "type": "REQUEST",
        "methodArn": arn,
        "headers": None if multi else headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": {"identity": {"sourceIp": source_ip}},
    }
    return event


def effect(result) -> str:
    return result["policyDocument"]["Statement"][0]["Effect"]


def test_known_token_is_allowed_for_the_whole_stage_with_context():
    authorizer, fake, _ = make()
    result = handle(authorizer, request("tok_acme_0123456789"))
    assert effect(result) == "Allow"
    assert result["policyDocument"]["Statement"][0]["Resource"] == STAGE_ARN
    assert result["policyDocument"]["Statement"][0]["Action"] == "execute-api:Invoke"
    assert result["principalId"] == "acme"
    assert result["context"] == {"tenant": "acme", "providers": "shopify,stripe"}
    assert fake.calls[0] == {"path": PATH, "max_age": 300, "decrypt": True, "recursive": True, "force_fetch": False}


def test_tenant_without_providers_parameter_gets_every_provider():
    authorizer, _, _ = make()
    assert handle(authorizer, request("tok_globex_abcdef"))["context"]["providers"] == ",".join(PROVIDERS)


def test_unknown_token_is_denied():
    authorizer, _, _ = make()
    result = handle(authorizer, request("tok_unknown_000"))
    assert effect(result) == "Deny" and "context" not in result


@pytest.mark.parametrize("token", ["", "   ", "has space", "x" * 513, "tab\there", "ünïcode"])
def test_present_but_malformed_token_raises_unauthorized(token):
    authorizer, _, _ = make()
    with pytest.raises(Exception, match="^Unauthorized$"):
        handle(authorizer, request(token))


def test_missing_header_raises_unauthorized():
    authorizer, _, _ = make()
    with pytest.raises(Unauthorized):
        handle(authorizer, request(None))


@pytest.mark.parametrize("name", ["x-hookstack-token", "X-HOOKSTACK-TOKEN", "X-Hookstack-Token"])
@pytest.mark.parametrize("multi", [False, True])
def test_header_name_is_case_insensitive(name, multi):
    authorizer, _, _ = make()
    assert effect(handle(authorizer, request("tok_acme_0123456789", header=name, multi=multi))) == "Allow"


def test_identity_header_name_comes_from_settings(monkeypatch):
    from handlers.contract.settings import AuthorizerSettings

    monkeypatch.setenv("TENANT_PARAMETER_PATH", "/p/tenants")
    monkeypatch.setenv("IDENTITY_HEADER", "X-Api-Key")
    settings = AuthorizerSettings.from_env()
    assert settings.identity_header == "X-Api-Key" and settings.tenant_parameter_path == "/p/tenants/"
    monkeypatch.delenv("IDENTITY_HEADER")
    with pytest.raises(ConfigurationError, match="IDENTITY_HEADER"):
        AuthorizerSettings.from_env()  # the stack always sets it: a missing one is a deployment bug
    authorizer, _, _ = make(header="X-Api-Key")
    assert effect(handle(authorizer, request("tok_acme_0123456789", header="x-api-key"))) == "Allow"
    with pytest.raises(Unauthorized):
        handle(authorizer, request("tok_acme_0123456789", header="X-Hookstack-Token"))


def query_request(token=None, name="token", header_token=None):
    """A REQUEST authorizer event with the token in the query string (None: parameter absent)."""
    event = request(header_token)
    query = {} if token is None else {name: token}
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return event


def make_query(name="token"):
    fake = FakeParameters(PARAMETERS)
    return TokenAuthorizer(TenantDirectory(lambda: fake, PATH, 300, clock=Clock()), "X-Hookstack-Token", name)


def test_token_in_the_configured_query_parameter_is_allowed():
    result = handle(make_query(), query_request("tok_acme_0123456789"))
    assert effect(result) == "Allow" and result["context"]["tenant"] == "acme"
    assert effect(handle(make_query(), query_request("tok_unknown_000"))) == "Deny"


@pytest.mark.parametrize(
    "event",
    [
        query_request(None),  # no query string at all
        query_request("tok_acme_0123456789", name="other"),
        query_request("tok_acme_0123456789", name="Token"),  # query parameter names are case-sensitive
        query_request(None, header_token="tok_acme_0123456789"),  # the header is not read instead
    ],
)
def test_missing_query_parameter_raises_unauthorized(event):
    with pytest.raises(Unauthorized):
        handle(make_query(), event)


@pytest.mark.parametrize("token", ["", "   ", "has space", "x" * 513, "ünïcode"])
def test_malformed_query_parameter_raises_unauthorized(token):
    with pytest.raises(Exception, match="^Unauthorized$"):
        handle(make_query(), query_request(token))


def test_a_header_stage_ignores_a_token_in_the_query_string():
    authorizer, _, _ = make()
    with pytest.raises(Unauthorized):
        handle(authorizer, query_request("tok_acme_0123456789"))


def test_identity_query_parameter_comes_from_settings(monkeypatch):
    from handlers.contract.settings import AuthorizerSettings

    monkeypatch.setenv("TENANT_PARAMETER_PATH", "/p/tenants/")
    monkeypatch.setenv("IDENTITY_HEADER", "X-Hookstack-Token")
    monkeypatch.delenv("IDENTITY_QUERY_PARAMETER", raising=False)
    assert AuthorizerSettings.from_env().identity_query_parameter is None
    monkeypatch.setenv("IDENTITY_QUERY_PARAMETER", "  ")
    assert AuthorizerSettings.from_env().identity_query_parameter is None
    monkeypatch.setenv("IDENTITY_QUERY_PARAMETER", "token")
    assert AuthorizerSettings.from_env().identity_query_parameter == "token"


def test_a_query_string_token_is_never_logged(caplog):
    from handlers.authorizer import logger

    with caplog.at_level("INFO"):
        handle(make_query(), query_request("tok_acme_0123456789"))
        with pytest.raises(Unauthorized):
            handle(make_query(), query_request("bad token"))
    text = json.dumps([json.loads(logger.registered_formatter.format(r)) for r in caplog.records])
    assert "tok_acme_0123456789" not in text and "bad token" not in text


@pytest.mark.parametrize(
    "ip, allowed",
    [
        ("10.1.2.3", True),
        ("192.168.1.7", True),
        ("192.168.1.8", False),
        ("203.0.113.9", False),
        ("garbage", False),
        (None, False),
    ],
)
def test_source_ip_allow_list(ip, allowed):
    authorizer, _, _ = make()
    result = handle(authorizer, request("tok_initech_xyz", source_ip=ip))
    assert effect(result) == ("Allow" if allowed else "Deny")


def test_unparseable_allow_list_denies_rather_than_opens():
    authorizer, _, _ = make()
    assert effect(handle(authorizer, request("tok_broken_cidr", source_ip="10.0.0.1"))) == "Deny"


def test_tokens_are_cached_and_an_unknown_token_refetches_at_most_every_few_seconds():
    authorizer, fake, clock = make()
    handle(authorizer, request("tok_acme_0123456789"))
    handle(authorizer, request("tok_acme_0123456789"))
    assert [c["force_fetch"] for c in fake.calls] == [False, False]  # Powertools' max_age cache answers
    fake.values["newco/token"] = "tok_newco_fresh"
    assert effect(handle(authorizer, request("tok_newco_fresh"))) == "Allow"  # refetched on a miss
    assert fake.calls[-1]["force_fetch"] is True
    calls = len(fake.calls)
    handle(authorizer, request("tok_bogus_1"))
    handle(authorizer, request("tok_bogus_2"))
    assert sum(c["force_fetch"] for c in fake.calls[calls:]) == 0  # within the refetch interval
    clock.now += 11
    handle(authorizer, request("tok_bogus_3"))
    assert fake.calls[-1]["force_fetch"] is True


def test_tenants_without_token_are_ignored():
    names = [t.name for t in parse_tenants(PARAMETERS)]
    assert "notoken" not in names and "acme" in names


def test_stage_resource():
    assert stage_resource(METHOD_ARN) == STAGE_ARN
    assert (
        stage_resource("arn:aws:execute-api:us-east-1:1:api/prod/GET/events/evt_1")
        == "arn:aws:execute-api:us-east-1:1:api/prod/*"
    )


def test_token_is_never_logged(caplog):
    from handlers.authorizer import logger

    authorizer, _, _ = make()
    with caplog.at_level("INFO"):
        handle(authorizer, request("tok_acme_0123456789"))
        handle(authorizer, request("tok_unknown_000"))
        with pytest.raises(Unauthorized):
            handle(authorizer, request("bad token"))
    lines = [json.loads(logger.registered_formatter.format(r)) for r in caplog.records]
    text = json.dumps(lines)
    assert "tok_acme_0123456789" not in text and "tok_unknown_000" not in text and "bad token" not in text
    assert [line["status"] for line in lines] == ["allow", "deny", "unauthorized"]
    assert all(line["function"] == "authorizer" and line["duration_ms"] >= 0 for line in lines)


def test_reads_tenants_from_parameter_store_with_decryption(monkeypatch):
    import boto3
    from aws_lambda_powertools.utilities.parameters import SSMProvider
    from moto import mock_aws

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name=f"{PATH}acme/token", Value="tok_acme_0123456789", Type="SecureString")
        ssm.put_parameter(Name=f"{PATH}acme/providers", Value="github", Type="StringList")
        ssm.put_parameter(Name=f"{PATH}acme/source-ips", Value="127.0.0.0/8", Type="StringList")
        provider = SSMProvider(boto3_client=ssm)
        authorizer = TokenAuthorizer(TenantDirectory(lambda: provider, PATH, 300), "X-Hookstack-Token")
        result = handle(authorizer, request("tok_acme_0123456789", source_ip="127.0.0.1"))
        assert effect(result) == "Allow" and result["context"] == {"tenant": "acme", "providers": "github"}
        assert effect(handle(authorizer, request("tok_acme_0123456789", source_ip="10.0.0.1"))) == "Deny"
