"""Timestamps as the APIs answer them: epoch milliseconds → RFC 3339 UTC with milliseconds."""

from __future__ import annotations

import datetime as dt


def iso_from_ms(epoch_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
