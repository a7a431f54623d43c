"""Toy REQUEST authorizer for the gateway tests.

Authorization header: ``allow:<tenant>`` → Allow (context tenant, providers, flag),
``deny`` → explicit Deny, ``unauthorized`` → raise Exception("Unauthorized"),
``boom`` → raise RuntimeError, ``nested`` → a context with a nested object.
Every invocation prints one line ``authorizer-invoked <header>`` (the tests count them).
"""

import json


def handler(event, context):
    headers = event.get("headers") or {}
    token = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    print(f"authorizer-invoked {token}")
    print(json.dumps({"authorizer_event_keys": sorted(event), "has_body": "body" in event}))
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "boom":
        raise RuntimeError("authorizer exploded")
    effect = "Deny" if token == "deny" else "Allow"
    tenant = token.split(":", 1)[1] if token.startswith("allow:") else "none"
    arn_parts = event["methodArn"].split("/")
    # Allow every method of this stage, as real authorizers do to make caching useful.
    resource = "/".join(arn_parts[:2]) + "/*"
    result = {
        "principalId": f"user-{tenant}",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": {"tenant": tenant, "providers": "shopify,stripe", "premium": True, "quota": 5},
    }
    if token == "nested":
        result["context"]["nested"] = {"a": 1}
    return result
