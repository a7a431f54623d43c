"""HDR recording and coordinated-omission correction, on synthetic latencies."""

from __future__ import annotations

import pytest

from loadtests.report import latency
from loadtests.report.aggregate import RunAggregate
from loadtests.report.measurements import Attempt, ProcessMeasurements


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_percentiles_are_exact_to_three_significant_digits():
    histogram = latency.new_histogram()
    for micros in range(1, 10_001):  # 1 µs … 10 ms, uniform
        latency.record(histogram, micros / 1_000_000)
    summary = latency.summarize(histogram)
    assert summary["count"] == 10_000
    assert summary["p50_ms"] == pytest.approx(5.0, rel=1e-3)
    assert summary["p90_ms"] == pytest.approx(9.0, rel=1e-3)
    assert summary["p99_ms"] == pytest.approx(9.9, rel=1e-3)
    assert summary["p999_ms"] == pytest.approx(9.99, rel=1e-3)
    assert summary["max_ms"] == pytest.approx(10.0, rel=1e-3)


def test_exact_max_overrides_the_bucket_edge():
    histogram = latency.new_histogram()
    latency.record(histogram, 1.2345678)
    assert latency.summarize(histogram, exact_max_s=1.2345678)["max_ms"] == 1234.568


def test_values_outside_the_range_are_clamped_not_dropped():
    histogram = latency.new_histogram()
    latency.record(histogram, 0.0)
    latency.record(histogram, 10_000.0)  # beyond an hour
    assert histogram.get_total_count() == 2


def test_record_corrected_adds_the_samples_a_stalled_closed_loop_missed():
    histogram = latency.new_histogram()
    latency.record_corrected(histogram, 1.0, expected_interval_s=0.1)  # 1 s answer, 100 ms pacing
    # 1000, 900, …, 100 ms: the nine requests the user would have sent meanwhile waited too.
    assert histogram.get_total_count() == 10
    assert latency.summarize(histogram)["p50_ms"] == pytest.approx(500, rel=1e-3)


def test_merging_encoded_histograms_of_several_processes_is_exact():
    single = latency.new_histogram()
    parts = [latency.new_histogram() for _ in range(3)]
    for index in range(3000):
        value = (index * 7919 % 5000 + 1) / 10_000
        latency.record(single, value)
        latency.record(parts[index % 3], value)
    merged = latency.merge(latency.encode(part) for part in parts)
    assert latency.summarize(merged) == latency.summarize(single)


def test_count_above_and_bins_account_for_every_sample():
    histogram = latency.new_histogram()
    for value in (0.001, 0.002, 0.004, 6.0, 7.0):
        latency.record(histogram, value)
    assert latency.count_above(histogram, 5.0) == 2
    bins = latency.log_bins(histogram, bins=10)
    assert sum(count for _, _, count in bins) == 5
    assert bins[0][0] <= 1.0 and bins[-1][1] >= 7000 * 0.999


def _simulate(mode: str) -> tuple[ProcessMeasurements, int]:
    """One user, 10 ms pacing for 10 s, against a target that answers in 1 ms except for a 1 s
    stall from t=5 s: everything sent during the stall is answered when it ends."""
    clock = FakeClock()
    measurements = ProcessMeasurements("sim", now=clock, epoch=clock)
    interval, service, stall = 0.010, 0.001, (5.0, 6.0)

    def answer_at(sent: float) -> float:
        return stall[1] + service if stall[0] <= sent < stall[1] else sent + service

    free_at, sent_count, k = 0.0, 0, 0
    while True:
        intended = k * interval
        if intended >= 10.0:
            break
        if mode == "open":
            # Open model: every slot is a request; a busy user starts it late, latency counts from the slot.
            sent = max(intended, free_at)
            attempt = Attempt(intended=intended, claimed=free_at, sent=sent)
            k += 1
        else:
            # Closed model: the user sends when the previous answer came and its pacing allows.
            sent = max(intended, free_at)
            attempt = Attempt(expected_interval=interval, sent=sent)
            k = int(round(max(sent + interval, (k + 1) * interval) / interval))
        done = answer_at(sent)
        measurements.request_started(attempt)
        clock.now = done
        measurements.request_finished(attempt, status=202, service_s=done - sent, event_id=f"evt_{sent_count}")
        free_at, sent_count = done, sent_count + 1
    return measurements, sent_count


def test_coordinated_omission_hides_the_stall_unless_corrected_or_open():
    closed, closed_sent = _simulate("closed")
    open_model, open_sent = _simulate("open")

    naive = latency.summarize(closed.service)
    corrected = latency.summarize(closed.latency)
    scheduled = latency.summarize(open_model.latency)

    assert closed_sent < 910  # the closed loop sent nothing while stalled…
    assert naive["p99_ms"] < 2.0  # …so its raw service times say p99 = 1 ms: the stall vanished
    assert naive["max_ms"] == pytest.approx(1001, rel=1e-3)
    # Correction puts the missing ~100 samples back; the open model never lost them.
    assert closed.latency.get_total_count() == pytest.approx(1000, abs=2)
    assert open_sent == 1000
    assert corrected["p99_ms"] > 800 and scheduled["p99_ms"] > 800
    assert corrected["p99_ms"] == pytest.approx(scheduled["p99_ms"], rel=0.05)
    assert corrected["p50_ms"] < 2.0 and scheduled["p50_ms"] < 2.0
    # The open model also counts the time the backlog took to drain after the stall (1 ms per
    # queued request); the closed-loop correction assumes the missed requests were answered at once.
    assert scheduled["p90_ms"] > corrected["p90_ms"]
    # A slot taken while the only user was busy is a late start, not a generator wake-up delay.
    assert open_model.counts["late_claims"] > 90
    assert latency.summarize(open_model.wake_lag)["p99_ms"] < 0.01


def test_status_accounting_and_report_reset():
    clock = FakeClock()
    measurements = ProcessMeasurements("n1", now=clock, epoch=clock)
    cases = [
        (202, "evt_a", False),
        (202, None, False),
        (503, None, False),
        (422, None, True),
        (422, None, False),
        (0, None, False),
    ]
    for status, event_id, odd in cases:
        attempt = Attempt(intended=0.0, claimed=0.0, sent=0.0, may_be_refused=odd)
        measurements.request_started(attempt)
        clock.now += 0.01
        measurements.request_finished(
            attempt,
            status=status,
            service_s=0.01,
            event_id=event_id,
            error="ConnectionRefusedError" if status == 0 else None,
        )
    report = measurements.take_report()
    assert report["status"] == {"202": 2, "503": 1, "422": 2, "transport_error": 1}
    assert report["transport_errors"] == {"ConnectionRefusedError": 1}
    assert report["counts"]["acks"] == 2 and report["counts"]["acks_without_id"] == 1
    assert report["counts"]["refused_as_expected"] == 1
    assert report["counts"]["errors"] == 3  # 503, the unexpected 422, the transport error
    assert report["acked_ids"] == ["evt_a"]
    assert report["in_flight"] == 0
    again = measurements.take_report()
    assert again["counts"] == {} and again["latency"] is None


def test_aggregate_merges_reports_and_knows_when_every_process_is_done():
    clocks = [FakeClock(), FakeClock()]
    nodes = [ProcessMeasurements(f"w{i}", now=clocks[i], epoch=clocks[i]) for i in range(2)]
    aggregate = RunAggregate()
    for index, node in enumerate(nodes):
        for k in range(100):
            attempt = Attempt(intended=k * 0.01, claimed=k * 0.01, sent=k * 0.01)
            node.request_started(attempt)
            clocks[index].now = k * 0.01 + 0.005 * (index + 1)
            node.request_finished(attempt, status=202, service_s=0.005 * (index + 1), event_id=f"evt_{index}_{k}")
        node.exhausted = index == 0
        aggregate.add(node.take_report())
    assert not aggregate.drained(2)
    nodes[1].exhausted = True
    aggregate.add(nodes[1].take_report())
    assert aggregate.drained(2)
    assert not aggregate.drained(3)
    result = aggregate.result({"origin_epoch": 0.0})
    assert result["counts"]["acks"] == 200 and len(result["acked_ids"]) == 200
    merged = latency.summarize(latency.decode(result["histograms"]["latency"]))
    assert merged["p50_ms"] == pytest.approx(5.0, rel=1e-3) and merged["max_ms"] == pytest.approx(10.0, rel=1e-3)
    assert sum(row["acks"] for row in result["timeline"]) == 200
