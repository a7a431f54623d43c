"""The webhook providers hookstack knows how to verify."""

from __future__ import annotations

PROVIDERS: tuple[str, ...] = ("shopify", "stripe", "github")
