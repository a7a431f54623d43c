"""GitHub as a sender: repository webhooks (``push`` modelled), signed ``X-Hub-Signature-256:
sha256=<hex HMAC-SHA256(secret, raw body)>``, event and delivery id in ``X-GitHub-Event`` /
``X-GitHub-Delivery``. The ordering key is the repository's ``full_name``."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
from typing import Any

from stack.clients.providers.base import (
    FIRST_NAMES,
    JSON_CONTENT_TYPE,
    ClientProvider,
    Delivery,
    build_body,
    iso,
    now_or_utc,
    person,
    random_uuid,
    rng_or_new,
)

NAME = "github"
GITHUB_EVENTS: tuple[str, ...] = ("push",)
DEFAULT_REPO = "octo-org/octo-repo"
REPOSITORIES = (DEFAULT_REPO, "octo-org/storefront", "octo-org/payments", "octo-org/infra")
_COMMIT_MESSAGES = (
    "Fix flaky retry test",
    "Add order export",
    "Bump dependencies",
    "Refactor signature checks",
    "Document replay",
    "Handle empty line items",
)


def sign_github(secret: str, body: bytes) -> str:
    """Value of ``X-Hub-Signature-256``: ``sha256=<hex HMAC-SHA256(secret, body)>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def github_body(
    event: str, *, repo: str = DEFAULT_REPO, rng: random.Random | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """A GitHub ``push`` payload (a minimal repository event for other names)."""
    rng, now = rng_or_new(rng), now_or_utc(now)
    owner, name = repo.split("/", 1)
    repository = {
        "id": rng.randrange(10**7, 10**9),
        "node_id": f"R_{rng.getrandbits(48):x}",
        "name": name,
        "full_name": repo,
        "private": rng.random() < 0.5,
        "owner": {"login": owner, "id": rng.randrange(10**5, 10**8), "type": "Organization"},
        "html_url": f"https://github.com/{repo}",
        "default_branch": "main",
    }
    sender = {"login": rng.choice(FIRST_NAMES).lower(), "id": rng.randrange(10**5, 10**8), "type": "User"}
    if event != "push":
        return {"action": "created", "repository": repository, "sender": sender}
    commits: list[dict[str, Any]] = []
    for index in range(rng.randrange(1, 4)):
        first, last, email = person(rng)
        sha = _sha(rng)
        commits.append(
            {
                "id": sha,
                "tree_id": _sha(rng),
                "distinct": True,
                "message": rng.choice(_COMMIT_MESSAGES),
                "timestamp": iso(now - dt.timedelta(minutes=10 - index)),
                "url": f"https://github.com/{repo}/commit/{sha}",
                "author": {"name": f"{first} {last}", "email": email, "username": first.lower()},
                "committer": {"name": f"{first} {last}", "email": email, "username": first.lower()},
                "added": [],
                "removed": [],
                "modified": [f"src/module_{rng.randrange(20)}.py"],
            }
        )
    before = _sha(rng)
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": commits[-1]["id"],
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{repo}/compare/{before[:12]}...{commits[-1]['id'][:12]}",
        "commits": commits,
        "head_commit": commits[-1],
        "repository": repository,
        "pusher": {"name": sender["login"], "email": f"{sender['login']}@example.com"},
        "sender": sender,
    }


def github_delivery(
    event: str,
    secret: str,
    *,
    repo: str = DEFAULT_REPO,
    rng: random.Random | None = None,
    delivery_id: str | None = None,
    body: bytes | dict[str, Any] | None = None,
    extra_fields: bool = False,
    size_bytes: int | None = None,
    now: dt.datetime | None = None,
) -> Delivery:
    """A signed GitHub delivery (``X-GitHub-Event``, ``X-GitHub-Delivery``, ``X-Hub-Signature-256``)."""
    rng, now = rng_or_new(rng), now_or_utc(now)
    raw = build_body(body, lambda: github_body(event, repo=repo, rng=rng, now=now), extra_fields, size_bytes, rng)
    delivery_id = delivery_id or random_uuid(rng)
    headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id,
        "X-GitHub-Hook-ID": str(rng.randrange(10**8, 10**9)),
        "X-Hub-Signature-256": sign_github(secret, raw),
        "User-Agent": "GitHub-Hookshot/7e1f2a3",
    }
    return Delivery("github", event, raw, headers, delivery_id, repo)


class GitHub(ClientProvider):
    name = NAME
    topics = GITHUB_EVENTS
    default_topic = "push"
    group_key_name = "repo"
    sample_group_keys = REPOSITORIES

    def body(
        self,
        topic: str,
        *,
        rng: random.Random | None = None,
        group_key: str | None = None,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        return github_body(topic, repo=group_key or DEFAULT_REPO, rng=rng, now=now)

    def delivery(
        self,
        topic: str,
        secret: str,
        *,
        rng: random.Random | None = None,
        group_key: str | None = None,
        delivery_id: str | None = None,
        body: bytes | dict[str, Any] | None = None,
        extra_fields: bool = False,
        size_bytes: int | None = None,
        now: dt.datetime | None = None,
    ) -> Delivery:
        return github_delivery(
            topic,
            secret,
            repo=group_key or DEFAULT_REPO,
            rng=rng,
            delivery_id=delivery_id,
            body=body,
            extra_fields=extra_fields,
            size_bytes=size_bytes,
            now=now,
        )

    def group_key(self, label: str) -> str:
        return f"octo-org/{label}"

    def poison_body(self, original: dict[str, Any], group_key: str) -> dict[str, Any]:
        return {"ref": 42, "repository": {"full_name": group_key}, "commits": "none"}


PROVIDER = GitHub()
