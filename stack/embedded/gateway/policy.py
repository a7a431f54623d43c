"""Evaluation of the IAM policy a Lambda authorizer returns, against one method ARN.

API Gateway evaluates the ``policyDocument`` as IAM does: an explicit ``Deny`` that
matches wins, else an ``Allow`` that matches grants, else the request is implicitly
denied. Matching is on the action (``execute-api:Invoke``) and on the resource, an
``execute-api`` ARN whose wildcards (``*`` any run of characters, ``?`` one character)
apply within each colon-separated part of the ARN, the last part (``apiId/stage/VERB/path``)
included, so ``*`` there spans slashes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from functools import lru_cache
from typing import Any

INVOKE_ACTION = "execute-api:Invoke"


class Decision(Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "Deny"
    IMPLICIT_DENY = "NoMatch"


class PolicyError(ValueError):
    """The authorizer returned something that is not a policy document."""


def method_arn(region: str, account_id: str, api_id: str, stage: str, http_method: str, path: str) -> str:
    """``arn:aws:execute-api:{region}:{account}:{api}/{stage}/{VERB}/{path without leading /}``."""
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{http_method}/{path.lstrip('/')}"


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def arn_matches(pattern: str, arn: str) -> bool:
    """Whether an IAM ``Resource`` pattern matches ``arn``, part by part.

    ``*`` alone matches everything. Otherwise both are split into the six ARN parts
    (``arn:partition:service:region:account:resource``); each pattern part is a glob over
    the same part of the ARN.
    """
    if pattern == "*":
        return True
    pattern_parts = pattern.split(":", 5)
    arn_parts = arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return False
    return all(_glob(p).fullmatch(a) is not None for p, a in zip(pattern_parts, arn_parts, strict=False))


def action_matches(pattern: str, action: str) -> bool:
    """IAM actions compare case-insensitively, with the same globs."""
    return _glob(pattern.lower()).fullmatch(action.lower()) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _statement_applies(statement: Mapping[str, Any], arn: str) -> bool:
    if "Action" in statement:
        if not any(isinstance(a, str) and action_matches(a, INVOKE_ACTION) for a in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(isinstance(a, str) and action_matches(a, INVOKE_ACTION) for a in _as_list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        return any(isinstance(r, str) and arn_matches(r, arn) for r in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(isinstance(r, str) and arn_matches(r, arn) for r in _as_list(statement["NotResource"]))
    return False


def evaluate(policy_document: Mapping[str, Any], arn: str) -> Decision:
    """Decide ``execute-api:Invoke`` on ``arn`` under ``policy_document``."""
    if not isinstance(policy_document, Mapping):
        raise PolicyError("policyDocument is not an object")
    statements = _as_list(policy_document.get("Statement"))
    allowed = False
    for statement in statements:
        if not isinstance(statement, Mapping):
            raise PolicyError("a policy statement is not an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"policy statement Effect must be Allow or Deny, got {effect!r}")
        if not _statement_applies(statement, arn):
            continue
        if effect == "Deny":
            return Decision.EXPLICIT_DENY
        allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
