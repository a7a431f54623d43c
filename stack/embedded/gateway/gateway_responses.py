"""The answers API Gateway itself gives (its default gateway responses), byte for byte.

Statuses, bodies and ``x-amzn-ErrorType`` of the default gateway responses of a REST API.
Some default templates render the message with a space after the colon and some without;
the bodies below keep that difference. The explicit-deny body carries a capitalised
``Message`` key, as API Gateway's built-in ACCESS_DENIED response does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    status: int
    body: bytes
    error_type: str | None = None


MISSING_AUTHENTICATION_TOKEN = GatewayResponse(
    403, b'{"message":"Missing Authentication Token"}', "MissingAuthenticationTokenException"
)
# A path whose first segment is not the served stage.
STAGE_FORBIDDEN = GatewayResponse(403, b'{"message":"Forbidden"}', "ForbiddenException")
UNAUTHORIZED = GatewayResponse(401, b'{"message":"Unauthorized"}', "UnauthorizedException")
ACCESS_DENIED_EXPLICIT = GatewayResponse(
    403,
    b'{"Message":"User is not authorized to access this resource with an explicit deny in an identity-based policy"}',
    "AccessDeniedException",
)
ACCESS_DENIED = GatewayResponse(
    403, b'{"Message":"User is not authorized to access this resource"}', "AccessDeniedException"
)
# The authorizer function failed (raised something other than "Unauthorized", timed out, crashed).
AUTHORIZER_FAILURE = GatewayResponse(500, b'{"message":null}', "AuthorizerConfigurationException")
# The authorizer answered, but not with a valid policy/context.
AUTHORIZER_CONFIGURATION_ERROR = GatewayResponse(
    500, b'{"message": "Internal server error"}', "AuthorizerConfigurationException"
)
# A request validator refused the body (it is not JSON, or fails the method's model).
BAD_REQUEST_BODY = GatewayResponse(400, b'{"message": "Invalid request body"}', "BadRequestException")
THROTTLED = GatewayResponse(429, b'{"message":"Too Many Requests"}', "TooManyRequestsException")
REQUEST_TOO_LARGE = GatewayResponse(413, b'{"message":"Request Too Long"}')
INTEGRATION_TIMEOUT = GatewayResponse(504, b'{"message": "Endpoint request timed out"}')
# The function raised, timed out, crashed, or answered a malformed proxy response.
INTEGRATION_FAILURE = GatewayResponse(502, b'{"message": "Internal server error"}', "InternalServerErrorException")
# Lambda refused the invocation itself (throttled, payload over Lambda's 6 MB), or the
# gateway failed on its own: API Gateway's DEFAULT_5XX answer.
INTERNAL_SERVER_ERROR = GatewayResponse(500, b'{"message": "Internal server error"}', "InternalServerErrorException")
