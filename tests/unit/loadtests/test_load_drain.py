"""After the load: polling the events table until the backlog drains, and per-hop log parsing."""

from __future__ import annotations

import json

from loadtests.report import hops
from loadtests.report.e2e import summarize_items, wait_for_drain
from stack.clients.events import plain_value
from tests.helpers.fake_time import FakeTime


def item(event_id: str, status: str, received: int = 1000, done: int | None = None) -> dict:
    data = {"id": event_id, "status": status, "received_at": received}
    if status == "PROCESSED":
        data["processed_at"] = done
    if status == "DEAD_LETTERED":
        data["dead_lettered_at"] = done
    return data


def test_polls_until_every_acknowledged_event_is_terminal():
    fake = FakeTime()
    acked = {"evt_a", "evt_b", "evt_c"}
    scans = iter(
        [
            [item("evt_a", "RECEIVED"), item("unrelated", "PROCESSED", done=1)],
            [item("evt_a", "PROCESSING"), item("evt_b", "PROCESSED", done=1400)],
            [
                item("evt_a", "PROCESSED", done=1250),
                item("evt_b", "PROCESSED", done=1400),
                item("evt_c", "DEAD_LETTERED", done=1900),
                {"id": "idempotency#x"},
            ],
        ]
    )
    polls = []
    result = wait_for_drain(
        lambda: next(scans),
        acked,
        timeout=60,
        clock=fake.clock,
        sleep=fake.sleep,
        on_poll=lambda r: polls.append(r.missing),
    )
    assert polls == [3, 2, 0]
    assert (result.accepted, result.processed, result.dead_lettered, result.missing) == (3, 2, 1, 0)
    assert sorted(result.e2e_ms) == [250.0, 400.0] and result.dead_letter_ms == [900.0]
    assert result.last_terminal_ms == 1900 and not result.timed_out and result.scans == 3


def test_gives_up_at_the_timeout_and_counts_what_is_missing():
    fake = FakeTime()
    acked = {"evt_a", "evt_b", "evt_c"}
    result = wait_for_drain(
        lambda: [item("evt_a", "PROCESSED", done=2000), item("evt_b", "RECEIVED")],
        acked,
        timeout=10,
        min_interval=2,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert result.timed_out
    assert (result.missing_no_record, result.missing_unfinished, result.missing) == (1, 1, 2)
    assert fake.now <= 10 + 1e-9 and len(fake.sleeps) == 5


def test_scans_are_spaced_by_twice_their_own_duration():
    fake = FakeTime()

    def slow_scan():
        fake.now += 3.0  # a scan of a big table takes 3 s
        return []

    wait_for_drain(slow_scan, {"evt_a"}, timeout=20, min_interval=1, clock=fake.clock, sleep=fake.sleep)
    assert fake.sleeps[0] == 6.0


def test_dynamodb_values_become_plain_python():
    assert plain_value({"S": "PROCESSED"}) == "PROCESSED"
    assert plain_value({"N": "1795436930113"}) == 1795436930113
    assert plain_value({"N": "1.5"}) == 1.5
    assert summarize_items({}, set()).missing == 0


def test_per_hop_reads_only_what_the_run_appended(tmp_path):
    names = {"authorizer": "hs-dev-authorizer", "producer": "hs-dev-producer", "worker": "hs-dev-worker"}
    files = hops.log_files(tmp_path, names)
    files["authorizer"].write_text(json.dumps({"message": "old", "duration_ms": 999}) + "\n")
    files["producer"].write_text("")
    start = hops.offsets(files)
    with files["authorizer"].open("a") as log:
        for value in (1.5, 2.5, 3.5):
            log.write(json.dumps({"level": "INFO", "message": "authorized", "duration_ms": value}) + "\n")
        log.write("START RequestId: abc Version: $LATEST\n")
        log.write("REPORT RequestId: abc\tDuration: 4.20 ms\tBilled Duration: 5 ms\n")
        log.write("not json {\n")
    with files["producer"].open("a") as log:
        log.write(json.dumps({"duration_ms": True}) + "\n")  # not a number
    result = hops.read_hops(files, start)
    assert result["available"]
    assert result["authorizer"]["handler"] == {
        "count": 3,
        "mean_ms": 2.5,
        "p50_ms": 2.5,
        "p90_ms": 3.5,
        "p99_ms": 3.5,
        "max_ms": 3.5,
    }
    assert result["authorizer"]["runtime"]["count"] == 1 and result["authorizer"]["runtime"]["mean_ms"] == 4.2
    assert result["authorizer"]["source"] == "function logs"
    assert result["producer"]["handler"] == {
        "count": 0,
        "mean_ms": None,
        "p50_ms": None,
        "p90_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }
    assert "worker" not in files  # the worker's figure comes from the events table, not a log
    assert result["worker"] == {"available": False, "reason": "events table not read"}


def test_per_hop_without_logs_says_so(tmp_path):
    empty = hops.read_hops({}, {}, worker_reason="no stack outputs")
    assert empty["available"] is False and empty["reason"] == hops.NOT_AVAILABLE
    assert empty["authorizer"] == {"available": False, "reason": hops.NOT_AVAILABLE}
    assert empty["worker"] == {"available": False, "reason": "no stack outputs"}
    files = hops.log_files(tmp_path / "none", {"producer": "p", "worker": "w"})
    result = hops.read_hops(files, hops.offsets(files))
    assert result["available"] is False and result["producer"]["reason"] == "no log file p.log"


def test_the_worker_hop_comes_from_the_events_table_on_any_target():
    acked = {"evt_a", "evt_b", "evt_c", "evt_d"}
    found = {
        "evt_a": {**item("evt_a", "PROCESSED", received=1000, done=1250), "processing_at": 1240},
        "evt_b": {**item("evt_b", "PROCESSED", received=1000, done=1400), "processing_at": 1370},
        "evt_c": item("evt_c", "PROCESSED", received=1000, done=1500),  # no processing_at: not counted
        "evt_d": {**item("evt_d", "DEAD_LETTERED", done=1900), "processing_at": 1800},  # not a processed event
    }
    drained = summarize_items(found, acked)
    assert sorted(drained.worker_ms) == [10.0, 30.0]
    per_hop = hops.read_hops({}, {}, worker_ms=drained.worker_ms)
    assert per_hop["available"] is True  # no log on this target, but the table answered
    assert per_hop["authorizer"]["reason"] == hops.NOT_AVAILABLE
    worker = per_hop["worker"]
    assert worker["source"] == "events table" and "processing_at" in worker["basis"]
    assert worker["handler"] == {
        "count": 2,
        "mean_ms": 20.0,
        "p50_ms": 10.0,
        "p90_ms": 30.0,
        "p99_ms": 30.0,
        "max_ms": 30.0,
    }


def test_cost_estimate_reads_the_measured_means():
    from stack.ops.cost import measured_duration

    per_hop = hops.read_hops({}, {}, worker_ms=[10.0, 30.0, 50.0])
    assert measured_duration(per_hop["worker"]) == (30.0, "mean")
    stats = hops.exact_stats([1.0, 2.0, 6.0])
    assert stats["mean_ms"] == 3.0
    assert measured_duration({"available": True, "handler": stats, "runtime": hops.exact_stats([4.0])}) == (
        4.0,
        "mean",
    )  # Lambda's own REPORT duration is preferred when both are there
