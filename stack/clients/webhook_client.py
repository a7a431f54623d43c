"""A small keep-alive HTTP client for the deployed API: post a delivery, read an event's status."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from stack.clients.token_placement import TokenPlacement
from stack.errors import HookstackError


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    latency_ms: float

    def json(self) -> dict:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError:
            return {"raw": self.body.decode(errors="replace")[:200]}
        return value if isinstance(value, dict) else {"value": value}


class ApiClient:
    """One connection, reused (one per thread): what a provider's delivery worker does."""

    def __init__(self, api_url: str, token: str, placement: TokenPlacement = TokenPlacement(), timeout: float = 30):
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HookstackError(f"not an http(s) API URL: {api_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self._token = token
        self._placement = placement
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self._timeout)
        return self._conn

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        all_headers = {**self._placement.headers(self._token), **(headers or {})}
        # The target may hold the token: messages name ``path`` only.
        target = self._placement.path(self._base + path, self._token)
        for attempt in (1, 2):
            conn = self._connection()
            started = time.perf_counter()
            try:
                conn.request(method, target, body=body, headers=all_headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed: retry once on a fresh one.
                self.close()
                if attempt == 2:
                    raise
                continue
            except OSError as exc:
                self.close()
                raise HookstackError(f"{method} {self._base}{path}: {exc}") from None
            latency = (time.perf_counter() - started) * 1000
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return Response(response.status, data, latency)
        raise AssertionError("unreachable")

    def post_webhook(self, provider: str, body: bytes, headers: dict[str, str]) -> Response:
        return self.request("POST", f"/webhooks/{provider}", body, headers)

    def event_status(self, event_id: str) -> Response:
        return self.request("GET", f"/events/{event_id}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
