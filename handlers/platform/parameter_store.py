"""Parameter Store reads through Powertools' SSMProvider, which caches values for ``max_age``
seconds in the warm container. The provider (and its boto3 client) is created on first use."""

from __future__ import annotations

import functools
from typing import Any, Protocol


class ParameterProvider(Protocol):
    """The slice of Powertools' ``SSMProvider`` used here (tests pass a fake)."""

    def get(
        self,
        name: str,
        max_age: int | None = None,
        transform: Any = None,
        decrypt: bool | None = None,
        force_fetch: bool = False,
        **sdk_options: Any,
    ) -> Any: ...

    def get_multiple(
        self,
        path: str,
        max_age: int | None = None,
        transform: Any = None,
        raise_on_transform_error: bool = False,
        decrypt: bool | None = None,
        force_fetch: bool = False,
        recursive: bool = False,
        **sdk_options: Any,
    ) -> Any: ...


@functools.cache
def ssm_provider() -> ParameterProvider:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from handlers.platform.aws_clients import client

    return SSMProvider(boto3_client=client("ssm"))
