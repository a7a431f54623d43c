"""What the functions that call third parties read from an HTTP answer."""

from __future__ import annotations

import datetime as dt
import email.utils


def parse_retry_after(value: str, *, now: float) -> int | None:
    """``Retry-After``: delay-seconds or an HTTP date (RFC 9110); None when it is neither."""
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0, int(moment.timestamp() - now))
