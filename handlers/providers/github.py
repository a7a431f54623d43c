"""GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>``; topic and delivery
id in ``X-GitHub-Event`` / ``X-GitHub-Delivery``, ordering key the ``repository.full_name`` (else
the tenant). The ``push`` payload is modelled."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

from handlers.providers.base import (
    MAX_DELIVERY_ID_LENGTH,
    MAX_TOPIC_LENGTH,
    Delivery,
    Provider,
    ProviderModel,
    SignatureError,
    header_bytes,
    hmac_sha256,
    non_empty_string,
    required_header,
)
from handlers.stores.projections import Projection

NAME = "github"


def verify(secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> None:
    signature = headers.get("x-hub-signature-256")
    if not signature:
        raise SignatureError("missing X-Hub-Signature-256 header")
    expected = b"sha256=" + hmac_sha256(secret, body).hex().encode("ascii")
    if not hmac.compare_digest(expected, header_bytes(signature)):
        raise SignatureError("signature mismatch")


def describe(headers: Mapping[str, str], document: Mapping[str, Any]) -> Delivery:
    repository = document.get("repository")
    return Delivery(
        NAME,
        topic=required_header(headers, "x-github-event", "X-GitHub-Event", MAX_TOPIC_LENGTH),
        delivery_id=required_header(headers, "x-github-delivery", "X-GitHub-Delivery", MAX_DELIVERY_ID_LENGTH),
        ordering_key=non_empty_string(repository.get("full_name")) if isinstance(repository, dict) else None,
    )


# --- topic models --------------------------------------------------------------------------------


class Owner(ProviderModel):
    login: str | None = None
    name: str | None = None


class Repository(ProviderModel):
    id: int
    name: str
    full_name: str
    private: bool
    owner: Owner | None = None


class CommitAuthor(ProviderModel):
    name: str
    email: str | None = None
    username: str | None = None


class Commit(ProviderModel):
    id: str = Field(pattern=r"^[0-9a-f]{40}$")
    message: str
    timestamp: datetime
    url: str
    author: CommitAuthor
    distinct: bool = True
    added: list[str] = []
    removed: list[str] = []
    modified: list[str] = []


class Pusher(ProviderModel):
    name: str
    email: str | None = None


class Push(ProviderModel):
    ref: str
    before: str = Field(pattern=r"^[0-9a-f]{40}$")
    after: str = Field(pattern=r"^[0-9a-f]{40}$")
    created: bool = False
    deleted: bool = False
    forced: bool = False
    repository: Repository
    pusher: Pusher
    commits: list[Commit]
    head_commit: Commit | None = None

    def projection(self) -> Projection:
        return Projection(
            "push",
            f"{self.repository.full_name}@{self.after}",
            {
                "repository": self.repository.full_name,
                "ref": self.ref,
                "before": self.before,
                "after": self.after,
                "commits": len(self.commits),
                "pusher": self.pusher.name,
                "forced": self.forced,
            },
        )


TOPIC_MODELS: dict[str, type[ProviderModel]] = {"push": Push}


PROVIDER = Provider(NAME, verify, describe, TOPIC_MODELS)
