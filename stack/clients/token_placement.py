"""Where a request carries the tenant token: one header, or one query-string parameter.

A stage reads the token from exactly one place (``identity_header`` or
``identity_query_parameter`` in ``stack.config``): API Gateway refuses a request unless every
identity source is present, so a stage cannot take "either". Every client that sends to a stage
(the CLI, the load test, the drills) builds its requests through one of these.

Standard library only: Locust processes import it too. The stack tells the authorizer which
header to read (``IDENTITY_HEADER``), so the default is defined here once, on the client side.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

# The header a tenant token travels in unless a stage names another (`identity_header`).
DEFAULT_IDENTITY_HEADER = "X-Hookstack-Token"


@dataclass(frozen=True)
class TokenPlacement:
    header: str | None = DEFAULT_IDENTITY_HEADER
    query_parameter: str | None = None

    def __post_init__(self) -> None:
        if (self.header is None) == (self.query_parameter is None):
            raise ValueError("the token goes in exactly one of a header or a query-string parameter")

    @classmethod
    def in_header(cls, name: str = DEFAULT_IDENTITY_HEADER) -> TokenPlacement:
        return cls(header=name, query_parameter=None)

    @classmethod
    def in_query(cls, name: str) -> TokenPlacement:
        return cls(header=None, query_parameter=name)

    @classmethod
    def for_stage(cls, identity_header: str, identity_query_parameter: str | None) -> TokenPlacement:
        """Where a stage configured with these two settings reads the token (the query parameter
        wins when set, as in the rendered authorizer)."""
        if identity_query_parameter:
            return cls.in_query(identity_query_parameter)
        return cls.in_header(identity_header)

    def headers(self, token: str) -> dict[str, str]:
        """Headers to add to a request: the token's, or none."""
        return {self.header: token} if self.header is not None else {}

    def path(self, path: str, token: str) -> str:
        """``path`` (may already have a query string) with the token appended when it goes there.
        The result holds the token: send it, never print or record it."""
        if self.query_parameter is None:
            return path
        if path.endswith(("?", "&")):
            separator = ""
        else:
            separator = "&" if "?" in path else "?"
        return f"{path}{separator}{quote(self.query_parameter, safe='')}={quote(token, safe='')}"

    def describe(self) -> str:
        """Where the token goes, for messages (never the token itself)."""
        if self.query_parameter is not None:
            return f"query parameter {self.query_parameter!r}"
        return f"header {self.header!r}"
