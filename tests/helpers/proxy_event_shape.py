"""AWS's documented REST proxy event (payload 1.0) and a recursive shape comparison against it.

``DOCUMENTED_EVENT`` is AWS's documented example of the event a REST API hands a Lambda
proxy integration (Lambda developer guide, "Using Lambda with API Gateway", example REST
API event: the ids ``2gxmpl``, ``JJbxmHc9IAMFpnQ=``, ``77375676-xmpl-…`` come from it),
written for a POST to a ``/webhooks/{provider}`` resource guarded by a REQUEST Lambda
authorizer: ``requestContext.authorizer`` then holds the authorizer's context values,
``principalId`` and ``integrationLatency`` as documented for Lambda authorizers. The unit tests
of the event builder and the integration test of the embedded gateway both compare against it
with :func:`assert_same_shape`.
"""

from __future__ import annotations

import json
from typing import Any

DOCUMENTED_EVENT: dict[str, Any] = json.loads(
    """
{
  "resource": "/webhooks/{provider}",
  "path": "/webhooks/shopify",
  "httpMethod": "POST",
  "headers": {
    "Accept": "*/*",
    "Authorization": "allow:acme",
    "Content-Type": "application/json",
    "Host": "70ixmpl4fl.execute-api.us-east-2.amazonaws.com",
    "User-Agent": "curl/8.5.0",
    "X-Amzn-Trace-Id": "Root=1-5e66d96f-7491f09xmpl79d18acf3d050",
    "X-Forwarded-For": "205.255.255.176",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Proto": "https"
  },
  "multiValueHeaders": {
    "Accept": ["*/*"],
    "Authorization": ["allow:acme"],
    "Content-Type": ["application/json"],
    "Host": ["70ixmpl4fl.execute-api.us-east-2.amazonaws.com"],
    "User-Agent": ["curl/8.5.0"],
    "X-Amzn-Trace-Id": ["Root=1-5e66d96f-7491f09xmpl79d18acf3d050"],
    "X-Forwarded-For": ["205.255.255.176"],
    "X-Forwarded-Port": ["443"],
    "X-Forwarded-Proto": ["https"]
  },
  "queryStringParameters": {"parameter1": "value2", "parameter2": "value"},
  "multiValueQueryStringParameters": {"parameter1": ["value1", "value2"], "parameter2": ["value"]},
  "pathParameters": {"provider": "shopify"},
  "stageVariables": {"color": "blue"},
  "requestContext": {
    "resourceId": "2gxmpl",
    "authorizer": {
      "tenant": "acme",
      "providers": "shopify,stripe",
      "premium": "true",
      "quota": "5",
      "principalId": "user-acme",
      "integrationLatency": 312
    },
    "resourcePath": "/webhooks/{provider}",
    "httpMethod": "POST",
    "extendedRequestId": "JJbxmHc9IAMFpnQ=",
    "requestTime": "10/Mar/2020:00:03:59 +0000",
    "path": "/Prod/webhooks/shopify",
    "accountId": "123456789012",
    "protocol": "HTTP/1.1",
    "stage": "Prod",
    "domainPrefix": "70ixmpl4fl",
    "requestTimeEpoch": 1583798639428,
    "requestId": "77375676-xmpl-4b79-853a-f982474efe18",
    "identity": {
      "cognitoIdentityPoolId": null,
      "accountId": null,
      "cognitoIdentityId": null,
      "caller": null,
      "sourceIp": "205.255.255.176",
      "principalOrgId": null,
      "accessKey": null,
      "cognitoAuthenticationType": null,
      "cognitoAuthenticationProvider": null,
      "userArn": null,
      "userAgent": "curl/8.5.0",
      "user": null
    },
    "domainName": "70ixmpl4fl.execute-api.us-east-2.amazonaws.com",
    "apiId": "70ixmpl4fl"
  },
  "body": "{\\"id\\": 820982911946154508}",
  "isBase64Encoded": false
}
"""
)

# Maps whose keys are the request's own (header names, parameters, context keys): only the
# value types are compared, not the key sets.
FREE_FORM = {
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext.authorizer",
}


def assert_same_shape(actual: Any, documented: Any, where: str = "") -> None:
    """Same keys and JSON types, recursively (free-form maps: value types only)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where or 'event'}: {type(actual).__name__}, documented object"
        if where in FREE_FORM:
            for key, value in actual.items():
                sample = next(iter(documented.values()))
                if where == "requestContext.authorizer" and key == "integrationLatency":
                    sample = documented[key]
                assert type(value) is type(sample), f"{where}.{key}: {type(value).__name__}"
            return
        assert set(actual) == set(documented), (
            f"{where or 'event'}: missing {sorted(set(documented) - set(actual))}, "
            f"unexpected {sorted(set(actual) - set(documented))}"
        )
        for key, value in documented.items():
            assert_same_shape(actual[key], value, f"{where}.{key}" if where else key)
    elif isinstance(documented, list):
        assert isinstance(actual, list), where
        for item in actual:
            assert_same_shape(item, documented[0], where)
    elif documented is None:
        assert actual is None, f"{where}: {actual!r}, documented null"
    else:
        documented_type = type(documented).__name__
        assert type(actual) is type(documented), f"{where}: {type(actual).__name__}, documented {documented_type}"
