"""A synthetic load-run result (1000 requests at 100 req/s, a few slow answers and 503s), the way
the aggregate hands it to the summary and the reports."""

from __future__ import annotations

import json
from pathlib import Path

from loadtests.report.aggregate import RunAggregate
from loadtests.report.measurements import Attempt, ProcessMeasurements

ORIGIN = 1_800_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def synthetic_result(cpu_percent: float = 35.0, wake_lag_s: float = 0.0002) -> dict:
    clock = Clock(ORIGIN)
    node = ProcessMeasurements("local", now=clock, epoch=clock)
    for k in range(1000):  # 100 req/s for 10 s; every 100th answer takes 400 ms
        intended = ORIGIN + k * 0.01
        attempt = Attempt(intended=intended, claimed=intended - 0.005, sent=intended + wake_lag_s)
        node.request_started(attempt)
        service = 0.4 if k % 100 == 99 else 0.012
        clock.now = attempt.sent + service
        status = 503 if k % 250 == 0 else 202
        node.request_finished(
            attempt, status=status, service_s=service, event_id=f"evt_{k:04d}" if status == 202 else None
        )
    for second in range(12):
        clock.now = ORIGIN + second
        node.sample_cpu(cpu_percent)
    node.exhausted = True
    aggregate = RunAggregate()
    aggregate.add(node.take_report())
    return aggregate.result(
        {
            "scenario": "flash-sale",
            "mode": "open",
            "params": {},
            "host": "http://127.0.0.1:9/dev",
            "processes": 1,
            "user_classes": ["ShopifyStore"],
            "users": 50,
            "lead_s": 1.0,
            "duration_s": 10.0,
            "origin_epoch": ORIGIN,
            "started_epoch": ORIGIN - 1,
            "ended_epoch": ORIGIN + 12,
            "offered_requests": 1000.0,
            "offered_timeline": [[t, 100.0] for t in range(10)],
            "peak_rate": 100.0,
        }
    )


def write_report_dir(directory: Path, *, keep_histogram: bool = True, slower_by: float = 1.0) -> Path:
    """A report directory as `hookstack load` leaves it (summary.json, and the Locust result with
    its latency histogram unless ``keep_histogram`` is false); ``slower_by`` scales the latencies."""
    from loadtests.report import summary as run_summary

    result = synthetic_result()
    summary, _ = run_summary.build(result, target="embedded")
    for key in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms"):
        summary[key] = round(summary[key] * slower_by, 3)
    directory.mkdir(parents=True)
    (directory / "summary.json").write_text(json.dumps(summary))
    if keep_histogram:
        (directory / "locust-result.json").write_text(json.dumps(result))
    return directory
