"""A few concurrent deliveries before the measured load, reported apart.

A freshly deployed stack starts its functions on first use; on the embedded emulator ten
concurrent first requests were measured taking 14-19 s. Those cold starts are real and are
reported (``warmup`` in the summary), but they are not the steady behaviour a scenario measures.
"""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stack.clients import providers as client_providers
from stack.clients.token_placement import TokenPlacement
from stack.percentiles import percentile

REQUEST_TIMEOUT_S = 30.0


def _send(url: str, headers: dict[str, str], body: bytes) -> tuple[int, float]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError):
        status = 0
    return status, time.perf_counter() - started


def warm_up(
    api_url: str,
    *,
    token: str,
    placement: TokenPlacement,
    provider: str,
    secret: str,
    requests: int,
    concurrency: int = 10,
    seed: int | None = None,
) -> dict[str, Any]:
    """Send ``requests`` signed deliveries of ``provider``, ``concurrency`` at a time; summarize."""
    if requests <= 0:
        return {"requests": 0}
    rng = random.Random(seed)
    sender = client_providers.get(provider)
    deliveries = [sender.delivery(sender.default_topic, secret, rng=rng) for _ in range(requests)]
    url = placement.path(f"{api_url}/webhooks/{provider}", token)  # holds the token: never reported
    auth_headers = placement.headers(token)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(concurrency, requests)) as pool:
        results = list(pool.map(lambda d: _send(url, {**d.headers, **auth_headers}, d.body), deliveries))
    durations = [seconds * 1000 for _, seconds in results]
    p50 = percentile(durations, 50)
    return {
        "requests": requests,
        "concurrency": min(concurrency, requests),
        "status_counts": dict(Counter(str(status) if status else "transport_error" for status, _ in results)),
        "p50_ms": round(p50, 1) if p50 is not None else None,
        "max_ms": round(max(durations), 1),
        "seconds": round(time.perf_counter() - started, 2),
    }
