"""API Gateway's own limits on a REST API stage (payload, throttling, integration timeout) and what it
answers when one is passed, checked over HTTP on the fidelity stack; and a Lambda error through a
proxy integration."""

from __future__ import annotations

from stack.fidelity.authorizer import LOCALSTACK_RESPONSES, RESPONSES_DOC, expect_answer
from stack.fidelity.behaviour import Behaviour, Differs
from stack.fidelity.fidelity_stack import THROTTLE_BURST, http_request, shared_fidelity_stack
from stack.fidelity.probe import Probe

AREA = "api-limits"
QUOTAS_DOC = (
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html"
)
THROTTLING_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html"
TIMEOUT_DOC = "https://docs.aws.amazon.com/apigateway/latest/api/API_Integration.html (timeoutInMillis: 50 ms to 29 s)"
LAMBDA_ERRORS_DOC = (
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/handle-errors-in-lambda-integration.html"
)

PAYLOAD_LIMIT_BYTES = 10 * 1024 * 1024  # REST API payload quota, not adjustable
THROTTLE_PROBES = THROTTLE_BURST + 5  # sent back to back: more than the bucket holds and refills meanwhile
THROTTLED_BODY = {"message": "Too Many Requests"}
TIMED_OUT_BODY = {"message": "Endpoint request timed out"}
INTERNAL_ERROR_BODY = {"message": "Internal server error"}


def payload_too_large(p: Probe) -> None:
    stack = shared_fidelity_stack(p)
    body = b"x" * (PAYLOAD_LIMIT_BYTES + 1)
    answer = http_request(stack.url("/open"), "POST", {"Content-Type": "application/octet-stream"}, body)
    # The status is AWS-validated; the message text of this default response is not in a validated
    # source this suite draws on, so only its shape (the default template's) is required.
    payload = answer.json()
    if answer.status != 413 or not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        raise Differs(
            f"a body of 10 MB + 1 byte: answered {answer.status} {answer.body[:200]!r}, AWS answers 413 "
            '{"message": "<text>"}'
        )


def stage_throttle(p: Probe) -> None:
    stack = shared_fidelity_stack(p)
    answers = [http_request(stack.url("/throttled")) for _ in range(THROTTLE_PROBES)]
    statuses = [a.status for a in answers]
    if statuses[0] != 200:
        raise Differs(f"the first request under the limit: {statuses[0]}, AWS serves it")
    throttled = [a for a in answers if a.status == 429]
    if not throttled:
        raise Differs(
            f"{THROTTLE_PROBES} requests at once against a 1 rps / burst {THROTTLE_BURST} stage limit: {statuses}, "
            "AWS answers 429"
        )
    expect_answer("a throttled request", throttled[0], 429, THROTTLED_BODY)


def integration_timeout(p: Probe) -> None:
    stack = shared_fidelity_stack(p)
    expect_answer(
        "a function slower than the integration timeout", http_request(stack.url("/slow")), 504, TIMED_OUT_BODY
    )


def function_error_502(p: Probe) -> None:
    stack = shared_fidelity_stack(p)
    expect_answer("a function that raises", http_request(stack.url("/open?raise=1")), 502, INTERNAL_ERROR_BODY)


BEHAVIOURS = [
    Behaviour(
        "api-payload-over-10mb-413",
        AREA,
        "a request body over 10 MB is refused 413 with a gateway response body, the integration never called",
        f"{QUOTAS_DOC}; {RESPONSES_DOC} (REQUEST_TOO_LARGE 413); {LOCALSTACK_RESPONSES}",
        payload_too_large,
    ),
    Behaviour(
        "api-stage-throttle-429",
        AREA,
        'requests beyond a stage method\'s throttling rate and burst are answered 429 {"message":"Too Many Requests"}',
        f"{THROTTLING_DOC}; {RESPONSES_DOC} (THROTTLED 429); {LOCALSTACK_RESPONSES}",
        stage_throttle,
    ),
    Behaviour(
        "api-integration-timeout-504",
        AREA,
        'an integration slower than its timeoutInMillis is answered 504 {"message": "Endpoint request timed out"}',
        f"{TIMEOUT_DOC}; {QUOTAS_DOC}; {RESPONSES_DOC} (INTEGRATION_TIMEOUT 504); {LOCALSTACK_RESPONSES}",
        integration_timeout,
    ),
    Behaviour(
        "api-lambda-error-502",
        "lambda-errors",
        'a function error behind a Lambda proxy integration is answered 502 {"message": "Internal server error"}',
        LAMBDA_ERRORS_DOC,
        function_error_502,
    ),
]
