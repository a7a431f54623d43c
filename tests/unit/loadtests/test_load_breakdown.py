"""The run broken down for comparing runs (per provider/topic, non-2xx apart, errors by status over
time, end to end), a run stopped by hand, cold starts in the window, and a stage that is not quiet."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from loadtests.launcher import LocustRun
from loadtests.model.params import LoadParams
from loadtests.report import breakdown, breakdown_html, cold_starts, interrupted, summary
from loadtests.report.aggregate import RunAggregate
from loadtests.report.breakdown import MAX_KEYS, OTHER_KEY, EventTiming, KeyedHistograms
from loadtests.report.measurements import Attempt, ProcessMeasurements
from loadtests.stage_quiet import StageState, read_stage_state, wait_for_quiet
from stack.ops.top import QueueDepth
from tests.helpers.load_results import ORIGIN, Clock, synthetic_result

META = {
    "scenario": "steady",
    "mode": "open",
    "params": {},
    "host": "http://127.0.0.1:9/dev",
    "processes": 2,
    "user_classes": ["ShopifyStore"],
    "users": 10,
    "lead_s": 1.0,
    "duration_s": 4.0,
    "origin_epoch": ORIGIN,
    "started_epoch": ORIGIN - 1,
    "ended_epoch": ORIGIN + 5,
    "offered_requests": 40.0,
    "offered_timeline": [[t, 10.0] for t in range(4)],
    "peak_rate": 10.0,
}


def node_report(name: str, answers: list[tuple[float, int, float, str]]) -> dict:
    """``answers``: (intended offset from ORIGIN, status, service seconds, key)."""
    clock = Clock(ORIGIN)
    node = ProcessMeasurements(name, now=clock, epoch=clock)
    for offset, status, service, key in answers:
        attempt = Attempt(intended=ORIGIN + offset, claimed=ORIGIN + offset, sent=ORIGIN + offset)
        node.request_started(attempt)
        clock.now = ORIGIN + offset + service
        node.request_finished(attempt, status=status, service_s=service, event_id=None, key=key)
    node.exhausted = True
    return node.take_report()


def two_process_result() -> dict:
    aggregate = RunAggregate()
    aggregate.add(
        node_report(
            "a",
            [
                (0.1, 202, 0.010, "shopify orders/create"),
                (0.2, 202, 0.020, "shopify orders/create"),
                (1.1, 503, 0.300, "shopify orders/create"),
                (2.5, 0, 5.0, "stripe invoice.paid"),
            ],
        )  # fmt: skip
    )
    aggregate.add(
        node_report(
            "b",
            [
                (0.3, 202, 0.030, "stripe invoice.paid"),
                (1.2, 429, 0.002, "stripe invoice.paid"),
                (1.4, 429, 0.004, "stripe invoice.paid"),
            ],
        )  # fmt: skip
    )
    return aggregate.result(META)


def test_ack_latency_per_provider_topic_is_exact_and_merged_across_processes():
    fields = breakdown.summary_fields(two_process_result(), None)
    shopify = fields["by_key"]["shopify orders/create"]["ack"]
    assert shopify["count"] == 2 and shopify["max_ms"] == pytest.approx(20, rel=1e-3)
    stripe = fields["by_key"]["stripe invoice.paid"]
    assert stripe["ack"]["count"] == 1 and stripe["ack"]["p50_ms"] == pytest.approx(30, rel=1e-3)
    assert stripe["e2e"] is None  # not read back in this run


def test_non_2xx_answers_are_reported_apart_per_status_and_transport_errors_have_no_latency():
    non_2xx = breakdown.summary_fields(two_process_result(), None)["non_2xx"]
    assert non_2xx["count"] == 3
    assert set(non_2xx["by_status"]) == {"429", "503"}
    assert non_2xx["by_status"]["429"]["count"] == 2
    assert non_2xx["by_status"]["503"]["max_ms"] == pytest.approx(300, rel=1e-3)


def test_errors_over_time_by_status_code():
    result = two_process_result()
    rows = breakdown.errors_timeline(result)
    by_second = {row["t"]: {k: v for k, v in row.items() if k != "t"} for row in rows}
    assert by_second[1.0] == {"503": 1, "429": 2}
    assert by_second[7.0] == {"transport_error": 1}  # the 5 s transport error ended in second 7


def test_keys_beyond_the_bound_are_counted_together():
    histograms = KeyedHistograms()
    for index in range(MAX_KEYS + 10):
        histograms.record(f"provider topic-{index}", 0.01)
    assert len(histograms.histograms) == MAX_KEYS
    other = histograms.histograms[OTHER_KEY]
    assert other.get_total_count() == 11


def test_end_to_end_per_key_distribution_and_course_over_time():
    items = {
        "e1": {"received_at": ORIGIN * 1000 + 100, "processed_at": ORIGIN * 1000 + 300,
               "provider": "shopify", "topic": "orders/create"},
        "e2": {"received_at": ORIGIN * 1000 + 1500, "processed_at": ORIGIN * 1000 + 1600,
               "provider": "shopify", "topic": "orders/create"},
        "e3": {"received_at": ORIGIN * 1000 + 1700, "status": "RECEIVED"},  # not processed yet
    }  # fmt: skip
    timings = breakdown.timings_from_items(items, ["e1", "e2", "e3", "gone"])
    assert timings == [
        EventTiming(ORIGIN * 1000 + 100, 200.0, "shopify orders/create"),
        EventTiming(ORIGIN * 1000 + 1500, 100.0, "shopify orders/create"),
    ]
    e2e = breakdown.summary_fields(two_process_result(), timings)["by_key"]["shopify orders/create"]["e2e"]
    assert e2e == {"count": 2, "p50_ms": 100.0, "p90_ms": 200.0, "p99_ms": 200.0, "max_ms": 200.0}
    series = breakdown.e2e_series(timings, ORIGIN)
    assert [(row["t"], row["events"], row["max_ms"]) for row in series["e2e_timeline"]] == [
        (0, 1, 200.0),
        (1, 1, 100.0),
    ]
    assert sum(count for _, _, count in series["e2e_bins"]) == 2


def test_a_run_stopped_by_hand_is_cut_to_what_was_measured():
    result = {**synthetic_result(), "ended_epoch": ORIGIN + 4.5}
    result["counts"] = {**result["counts"], "unsent": 550}  # the rest of the plan, counted by Locust
    cut = interrupted.measured_part(result)
    assert cut["duration_s"] == 4.5 and cut["planned_duration_s"] == 10.0
    assert cut["offered_requests"] == pytest.approx(450)
    assert cut["counts"]["unsent"] == 0  # 1000 sent before the stop: nothing due went unsent
    built, _ = summary.build(cut, target="embedded")
    built.update(interrupted.fields(cut, "load"))
    assert built["offered_rps"] == pytest.approx(100)
    assert built["interrupted"] is True and built["measured_s"] == 4.5
    page = breakdown_html.report_page(built, summary.series(cut))
    assert "<b>Interrupted</b> during the load" in page


def test_the_report_page_has_the_breakdown_sections_and_charts():
    result = two_process_result()
    built, _ = summary.build(result, target="url")
    built.update(breakdown.summary_fields(result, None))
    plot = summary.series(result)
    plot["errors_timeline"] = breakdown.errors_timeline(result)
    page = breakdown_html.report_page(built, plot)
    assert "<h2>Per provider and topic</h2>" in page and "stripe invoice.paid" in page
    assert "Errors over time by status code" in page and "transport_error" in page
    assert "End to end: not measured" in page
    assert "Interrupted" not in page


def test_cold_starts_inside_the_window_are_counted_per_function():
    before = {"functions": {"d-producer": {"cold_starts": 2, "init_ms": [600.0, 610.0]}},
              "event_plane": {"functions": {"d-worker": {"cold_starts": 1, "init_ms": [900.0]}}}}  # fmt: skip
    after = json.loads(json.dumps(before))
    after["functions"]["d-producer"] = {"cold_starts": 4, "init_ms": [600.0, 610.0, 815.0, 790.0]}
    figures = cold_starts.during(before, after, {"producer": "d-producer", "worker": "d-worker"})
    assert figures == {"available": True, "total": 2,
                       "functions": {"producer": {"cold_starts": 2, "init_ms": [815.0, 790.0]}}}  # fmt: skip
    note = cold_starts.note(figures)
    assert note is not None and "producer ×2" in note and "815 ms" in note
    assert cold_starts.note(cold_starts.during(before, before, {})) is None
    unavailable = cold_starts.during(None, after, {}, reason="not supported on this target")
    assert unavailable == {"available": False, "reason": "not supported on this target"}


def test_a_backlog_or_an_active_fault_is_a_warning_and_dead_letters_are_not_waited_for():
    quiet = StageState([QueueDepth("Queue", 0, 0, 0), QueueDepth("Dlq", 7, 0, 0)], [])
    assert quiet.quiet and quiet.warnings() == []
    busy = StageState([QueueDepth("Queue", 1900, 10, 0), QueueDepth("JobsQueue", 0, 0, 3)], ["slow-writes"])
    assert busy.backlog == {"Queue": 1910, "JobsQueue": 3}
    lines = busy.warnings()
    assert "Queue 1910" in lines[0] and "slow-writes" in lines[1]


def test_waiting_for_quiet_is_bounded_and_stops_once_quiet():
    states = iter([StageState([QueueDepth("Queue", 5, 0, 0)], []), StageState([QueueDepth("Queue", 0, 0, 0)], [])])
    slept: list[float] = []
    assert wait_for_quiet(lambda: next(states), timeout_s=60, sleep=slept.append).quiet
    assert len(slept) == 1
    clock = Clock(0.0)

    def sleep(seconds: float) -> None:
        clock.now += seconds

    never = wait_for_quiet(
        lambda: StageState([QueueDepth("Queue", 5, 0, 0)], []), timeout_s=10, clock=clock, sleep=sleep
    )
    assert not never.quiet and clock.now == pytest.approx(10)


@pytest.mark.usefixtures("aws")
def test_the_stage_state_is_read_from_its_queues_and_fault_parameter(isolated_home):
    from handlers.faults import Fault, FaultConfig
    from stack.config import load_config

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="quiet-ingest")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="left over")
    fault = Fault(id="slow-writes", function="worker", point="write", action="latency", latency_ms=100,
                  expires_at=int(ORIGIN) + 60)  # fmt: skip
    ssm = boto3.client("ssm", region_name="us-east-1")
    parameter = load_config(stage="dev").faults_parameter
    ssm.put_parameter(Name=parameter, Type="String", Value=FaultConfig(faults=(fault,)).model_dump_json())

    class Outputs:
        stage = "dev"
        resources = {"QueueUrl": url, "EventsTable": "events"}

        def client(self, service: str):
            return boto3.client(service, region_name="us-east-1")

    state = read_stage_state(Outputs(), now=lambda: ORIGIN)
    assert state.backlog == {"Queue": 1} and state.active_faults == ["slow-writes"]
    assert read_stage_state(Outputs(), now=lambda: ORIGIN + 120).active_faults == []  # expired


def test_a_relative_report_directory_reaches_the_locust_child_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = LocustRun(url="http://127.0.0.1:1/dev", params=LoadParams(), report_dir=Path("run"))
    command = run.command()
    progress = command[command.index("--progress-file") + 1]
    assert Path(progress) == tmp_path / "run" / "progress.jsonl"
    assert Path(command[command.index("--results-file") + 1]).is_absolute()
