"""Cold starts that fell inside the measured window, from the data plane's pool stats.

The warm-up sends deliveries before the load so environments start outside the measured
window; a load that needs more environments than the warm-up started (or a pool that lost one)
still meets cold starts, whose init time lands in the figures. Stats read before and after the
load (``/_hookstack/stats``: per function ``cold_starts`` and the last ``init_ms``) say how many.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def pool_counts(stats: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Deployed function → its pool's ``cold_starts`` and ``init_ms``, the gateway's and the event plane's."""
    if not stats:
        return {}
    pools = dict(stats.get("functions") or {})
    pools.update((stats.get("event_plane") or {}).get("functions") or {})
    return {name: {"cold_starts": int(pool.get("cold_starts", 0)), "init_ms": list(pool.get("init_ms") or [])}
            for name, pool in pools.items()}  # fmt: skip


def during(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    function_names: Mapping[str, str],
    *,
    reason: str | None = None,
) -> dict[str, Any]:
    """``{"available", "total", "functions": {short name: {"cold_starts", "init_ms"}}}``: the cold
    starts between the two reads (a pool restarted in between counts from zero)."""
    if before is None or after is None:
        return {"available": False, "reason": reason or "the data plane's stats could not be read"}
    short = {deployed: name for name, deployed in function_names.items()}
    earlier, later = pool_counts(before), pool_counts(after)
    functions: dict[str, Any] = {}
    for deployed, now in later.items():
        then = earlier.get(deployed, {"cold_starts": 0})
        started = now["cold_starts"] - then["cold_starts"]
        if started < 0:  # the pool restarted (a redeploy): every cold start it counts is new
            started = now["cold_starts"]
        if started:
            functions[short.get(deployed, deployed)] = {
                "cold_starts": started,
                "init_ms": now["init_ms"][-started:] if started <= len(now["init_ms"]) else now["init_ms"],
            }
    return {"available": True, "total": sum(f["cold_starts"] for f in functions.values()), "functions": functions}


def note(figures: Mapping[str, Any] | None) -> str | None:
    """One sentence when cold starts fell inside the measured window, else None."""
    if not figures or not figures.get("available") or not figures.get("total"):
        return None
    parts = []
    for name, function in figures["functions"].items():
        slowest = max(function["init_ms"], default=None)
        init = f", init up to {slowest:.0f} ms" if slowest is not None else ""
        parts.append(f"{name} ×{function['cold_starts']}{init}")
    return (
        f"{figures['total']} cold start(s) fell inside the measured window ({'; '.join(parts)}): their init "
        "time is in the latency figures (raise --warmup, or run a longer load)"
    )
