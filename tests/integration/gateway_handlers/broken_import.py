"""Toy handler whose module cannot be imported (init failure)."""

import module_that_is_not_in_the_zip  # noqa: F401


def handler(event, context):
    return {"statusCode": 200, "body": "unreachable"}
