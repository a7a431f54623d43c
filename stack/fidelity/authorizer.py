"""The REQUEST Lambda authorizer as API Gateway applies it, checked over HTTP on the fidelity stack.

The stack's authorizer (identity source ``method.request.header.X-Fidelity-Token``, TTL 30 s)
answers Allow, or Deny for a token starting ``deny-``, with a fresh ``callId`` in its context on
every invocation; the integration echoes ``requestContext.authorizer``, so the same ``callId`` on
two requests means the second was served from the authorizer cache. Every check uses tokens no
earlier run used, so a cache left by another run cannot answer for it.
"""

from __future__ import annotations

import uuid

from stack.fidelity.behaviour import Behaviour, Differs
from stack.fidelity.fidelity_stack import IDENTITY_HEADER, HttpAnswer, http_request, shared_fidelity_stack
from stack.fidelity.probe import Probe

AREA = "authorizer"
AUTHORIZER_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-use-lambda-authorizer.html"
IDENTITY_SOURCE_DOC = "https://docs.aws.amazon.com/apigateway/latest/api/API_CreateAuthorizer.html (identitySource)"
OUTPUT_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html"
RESPONSES_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html"
LOCALSTACK_RESPONSES = (
    "LocalStack localstack-core/localstack/services/apigateway/next_gen/execute_api/gateway_response.py "
    '(UNAUTHORIZED 401, ACCESS_DENIED 403, default template {"message":$context.error.messageString})'
)

UNAUTHORIZED_BODY = {"message": "Unauthorized"}
# API Gateway's answer to an explicit Deny since it names the policy type; older answers ended at
# "explicit deny". Clients should match the status and x-amzn-ErrorType.
EXPLICIT_DENY_BODY = {
    "Message": "User is not authorized to access this resource with an explicit deny in an identity-based policy"
}


def _get(p: Probe, token: str | None) -> HttpAnswer:
    stack = shared_fidelity_stack(p)
    headers = {IDENTITY_HEADER: token} if token is not None else {}
    return http_request(stack.url("/echo"), headers=headers)


def expect_answer(what: str, answer: HttpAnswer, status: int, body: object) -> None:
    """The status, and the body as JSON (AWS's spacing inside the JSON is not part of the contract)."""
    if answer.status != status or answer.json() != body:
        raise Differs(f"{what}: answered {answer.status} {answer.body[:200]!r}, AWS answers {status} {body}")


def _call_id(what: str, answer: HttpAnswer) -> str:
    """The authorizer invocation that allowed this request (echoed by the integration)."""
    payload = answer.json()
    if answer.status != 200 or not isinstance(payload, dict):
        raise Differs(f"{what}: answered {answer.status} {answer.body[:200]!r}, AWS lets an allowed request through")
    context = payload.get("authorizer") or {}
    call_id = context.get("callId") if isinstance(context, dict) else None
    if not call_id:
        raise Differs(f"{what}: requestContext.authorizer is {context!r}, AWS passes the authorizer's context")
    return str(call_id)


def missing_identity(p: Probe) -> None:
    answer = _get(p, None)
    if answer.status == 200:
        raise Differs(
            "the authorizer was called without its identity source (the request went through); AWS never calls it"
        )
    expect_answer("no identity header", answer, 401, UNAUTHORIZED_BODY)
    expect_answer("an empty identity header", _get(p, ""), 401, UNAUTHORIZED_BODY)


def explicit_deny(p: Probe) -> None:
    expect_answer("a token the authorizer denies", _get(p, f"deny-{uuid.uuid4().hex}"), 403, EXPLICIT_DENY_BODY)


def allow_cached(p: Probe) -> None:
    token = f"allow-{uuid.uuid4().hex}"
    calls = [_call_id(f"request {n + 1} with one token", _get(p, token)) for n in range(3)]
    if len(set(calls)) != 1:
        raise Differs(
            f"{len(set(calls))} authorizer invocations for 3 requests with one token within its TTL; "
            "AWS invokes it once"
        )


def new_identity_calls_again(p: Probe) -> None:
    first, second = f"allow-{uuid.uuid4().hex}", f"allow-{uuid.uuid4().hex}"
    first_call = _call_id("the first token", _get(p, first))
    second_call = _call_id("a second token", _get(p, second))
    if second_call == first_call:
        raise Differs("a new identity value was answered from the cache; AWS caches per identity-source value")
    again = _call_id("the first token again", _get(p, first))
    if again != first_call:
        raise Differs(
            "the first token's cached result was lost when another token was authorized; AWS keeps one per value"
        )


BEHAVIOURS = [
    Behaviour(
        "authorizer-missing-identity-401",
        AREA,
        "with caching on, a request without (or with an empty) identity source is answered 401 "
        '{"message":"Unauthorized"} '
        "without calling the authorizer",
        f"{IDENTITY_SOURCE_DOC}; {RESPONSES_DOC}; {LOCALSTACK_RESPONSES}",
        missing_identity,
    ),
    Behaviour(
        "authorizer-deny-403",
        AREA,
        "an authorizer policy that explicitly denies the method is answered 403 with API Gateway's explicit-deny "
        "Message",
        f"{OUTPUT_DOC}; {RESPONSES_DOC}; {LOCALSTACK_RESPONSES}",
        explicit_deny,
    ),
    Behaviour(
        "authorizer-allow-cached-for-ttl",
        AREA,
        "an Allow is cached per identity-source value for the TTL: repeated requests with one token invoke the "
        "authorizer once",
        f"{AUTHORIZER_DOC} (authorizer caching); {IDENTITY_SOURCE_DOC}",
        allow_cached,
    ),
    Behaviour(
        "authorizer-new-identity-calls-again",
        AREA,
        "a different identity-source value invokes the authorizer again; each value keeps its own cached result",
        f"{IDENTITY_SOURCE_DOC} (the identity sources are the cache key); {AUTHORIZER_DOC}",
        new_identity_calls_again,
    ),
]
