"""Authorizer policy evaluation: execute-api ARN wildcards, Allow/Deny, implicit deny."""

from __future__ import annotations

import pytest

from stack.embedded.gateway.policy import Decision, PolicyError, arn_matches, evaluate, method_arn

ARN = method_arn("us-east-1", "000000000000", "abc123", "prod", "POST", "/webhooks/shopify")


def test_method_arn() -> None:
    assert ARN == "arn:aws:execute-api:us-east-1:000000000000:abc123/prod/POST/webhooks/shopify"
    assert method_arn("us-east-1", "1", "a", "s", "GET", "/").endswith(":a/s/GET/")


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("*", True),
        (ARN, True),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/*", True),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/prod/*/*", True),
        ("arn:aws:execute-api:*:*:*", True),
        ("arn:aws:execute-api:*:*:abc123/prod/POST/webhooks/*", True),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/prod/GET/*", False),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/dev/*", False),
        ("arn:aws:execute-api:us-east-1:000000000000:abc12?/prod/POST/webhooks/shopify", True),
        ("arn:aws:execute-api:us-east-1:000000000000:abc1?/prod/POST/webhooks/shopify", False),
        ("arn:aws:execute-api:us-west-2:000000000000:abc123/*", False),
        # A wildcard does not reach across the ARN's colon-separated parts.
        ("arn:aws:execute-api:us-east-1*", False),
        ("arn:aws:execute-api:us-east-1:000000000000:abc123/prod/POST/webhooks/shopify/extra", False),
    ],
)
def test_arn_wildcards(pattern: str, matches: bool) -> None:
    assert arn_matches(pattern, ARN) is matches


def _policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _statement(effect: str, resource: str | list[str] = "*", action: str | list[str] = "execute-api:Invoke") -> dict:
    return {"Effect": effect, "Action": action, "Resource": resource}


def test_allow() -> None:
    assert evaluate(_policy(_statement("Allow", ARN)), ARN) is Decision.ALLOW


def test_single_statement_object_is_accepted() -> None:
    assert evaluate({"Statement": _statement("Allow")}, ARN) is Decision.ALLOW


def test_explicit_deny_wins_over_allow() -> None:
    policy = _policy(_statement("Allow"), _statement("Deny", "arn:aws:execute-api:*:*:abc123/prod/POST/*"))
    assert evaluate(policy, ARN) is Decision.EXPLICIT_DENY


def test_no_matching_statement_is_an_implicit_deny() -> None:
    policy = _policy(_statement("Allow", "arn:aws:execute-api:*:*:abc123/prod/GET/*"))
    assert evaluate(policy, ARN) is Decision.IMPLICIT_DENY
    assert evaluate(_policy(), ARN) is Decision.IMPLICIT_DENY


def test_deny_on_another_method_does_not_apply() -> None:
    policy = _policy(_statement("Allow"), _statement("Deny", "arn:aws:execute-api:*:*:abc123/prod/DELETE/*"))
    assert evaluate(policy, ARN) is Decision.ALLOW


@pytest.mark.parametrize(
    ("action", "decision"),
    [
        ("execute-api:*", Decision.ALLOW),
        ("EXECUTE-API:invoke", Decision.ALLOW),
        (["s3:GetObject", "execute-api:Invoke"], Decision.ALLOW),
        ("execute-api:ManageConnections", Decision.IMPLICIT_DENY),
        ("s3:*", Decision.IMPLICIT_DENY),
    ],
)
def test_actions(action: str | list[str], decision: Decision) -> None:
    assert evaluate(_policy(_statement("Allow", action=action)), ARN) is decision


def test_not_resource() -> None:
    statement = {"Effect": "Allow", "Action": "execute-api:Invoke", "NotResource": "arn:aws:execute-api:*:*:*/*/GET/*"}
    assert evaluate(_policy(statement), ARN) is Decision.ALLOW


@pytest.mark.parametrize("policy", [[], {"Statement": ["x"]}, {"Statement": [{"Effect": "Maybe"}]}])
def test_invalid_policies(policy: object) -> None:
    with pytest.raises(PolicyError):
        evaluate(policy, ARN)  # type: ignore[arg-type]
