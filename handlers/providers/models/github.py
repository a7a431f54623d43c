"""GitHub ``push`` payload."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from handlers.providers.models.base import ProviderModel
from handlers.stores.projections import Projection


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
