"""Request body validation as API Gateway does it for a method with a request validator.

The method's model is chosen by the request's Content-Type (its media type), falling back to the
``application/json`` model; a body that is not JSON, or does not hold to the model's JSON schema
(draft-04, the dialect API Gateway takes), is answered ``400 {"message": "Invalid request body"}``
and the integration is not called. Schemas are compiled once, when the API is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import SchemaError

from stack.embedded.gateway.discovery import DefinitionError
from stack.embedded.gateway.gateway_responses import BAD_REQUEST_BODY, GatewayResponse

FALLBACK_CONTENT_TYPE = "application/json"


class BodyValidator:
    def __init__(self, models: Mapping[str, Mapping[str, Any]], where: str):
        self._validators: dict[str, Draft4Validator] = {}
        for content_type, schema in models.items():
            try:
                Draft4Validator.check_schema(schema)
            except SchemaError as exc:
                problem = f"{where}: the {content_type} model is not a draft-04 schema: {exc.message}"
                raise DefinitionError(problem) from None
            self._validators[content_type.lower()] = Draft4Validator(schema)

    def refusal(self, content_type: str | None, body: bytes) -> GatewayResponse | None:
        """None when the body passes; else the gateway's answer."""
        media_type = (content_type or FALLBACK_CONTENT_TYPE).split(";", 1)[0].strip().lower()
        validator = self._validators.get(media_type) or self._validators.get(FALLBACK_CONTENT_TYPE)
        if validator is None:
            return None
        try:
            document = json.loads(body or b"null")
        except (ValueError, RecursionError):
            return BAD_REQUEST_BODY
        try:
            return None if validator.is_valid(document) else BAD_REQUEST_BODY
        except RecursionError:
            return BAD_REQUEST_BODY
