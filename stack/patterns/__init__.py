"""The patterns a stage can deploy, each a selectable part of the one definition.

``patterns = ["webhooks", "jobs"]`` in ``hookstack.toml`` (or ``hookstack up --pattern NAME``,
repeatable, ``all``) selects them; ``webhooks`` is the default. Each pattern has its own module
here, in ``handlers/``, ``loadtests/`` and ``chaos/``; shared code never branches on one.
"""

from __future__ import annotations

from stack.config import HookstackConfig
from stack.patterns.base import Pattern
from stack.patterns.cdc import CdcPattern
from stack.patterns.jobs import JobsPattern
from stack.patterns.notifications import NotificationsPattern
from stack.patterns.orchestration import OrchestrationPattern
from stack.patterns.webhooks import WebhooksPattern

PATTERNS: dict[str, Pattern] = {
    pattern.name: pattern
    for pattern in (
        WebhooksPattern(),
        JobsPattern(),
        NotificationsPattern(),
        CdcPattern(),
        OrchestrationPattern(),
    )
}


def selected_patterns(config: HookstackConfig) -> list[Pattern]:
    """The stage's patterns, in the order of ``PATTERNS`` (the template does not depend on the
    order the user listed them in)."""
    return [pattern for name, pattern in PATTERNS.items() if name in config.patterns]
