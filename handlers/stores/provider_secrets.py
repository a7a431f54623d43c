"""Provider signing secrets (PROVIDER_SECRET_PARAMETERS: provider → SecureString name)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from handlers.platform.parameter_store import ParameterProvider


class ProviderSecrets:
    def __init__(
        self, provider_factory: Callable[[], ParameterProvider], parameter_names: Mapping[str, str], cache_seconds: int
    ):
        self._provider_factory = provider_factory
        self._names = dict(parameter_names)
        self._cache_seconds = cache_seconds

    def configured(self, provider: str) -> bool:
        return provider in self._names

    def secret(self, provider: str) -> str:
        return self._provider_factory().get(self._names[provider], max_age=self._cache_seconds, decrypt=True)
