"""Shared DTO settings: unknown fields are tolerated (providers add fields between API
versions), required fields must be present and well typed."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer


class ProviderModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _money_string(value: object) -> object:
    # Shopify sends money as strings ("19.99"); a bool or a nested object is a schema error.
    if isinstance(value, bool):
        raise ValueError("money must be a decimal string")
    return value


# Decimal in Python, its exact string when projected (DynamoDB maps have no floats).
Money = Annotated[Decimal, BeforeValidator(_money_string), PlainSerializer(str, return_type=str)]
