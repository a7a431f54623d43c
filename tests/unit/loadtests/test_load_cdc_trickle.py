"""The cdc-trickle scenario's pure parts: the write-burst shape, the sources' write model, the
figures over hand-made partner records (lag, rate, order, duplicates, leaks), the drain's stop
rules, and which gates a run refuses."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from loadtests.cdc_trickle import DrainOutcome, TrickleDrive, default_drive, wait_for_partner, with_default_gates
from loadtests.launcher import LocustRun
from loadtests.model.cdc_traffic import RunWrites, SourceWrites, ack_id, insert_item
from loadtests.model.gates import parse_gate, unmeasured
from loadtests.model.params import LoadParams
from loadtests.report import cdc as cdc_report
from stack.partner.records import TrickleRecord, TrickleRecords

# Importing Locust monkey-patches the interpreter with gevent; the shape needs none of it and the
# rest of the test session must not run patched.
_already = "LOCUST_SKIP_MONKEY_PATCH" in os.environ
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
try:
    from loadtests.locust.shapes import TableWriteBursts, create_shape
finally:
    if not _already:
        os.environ.pop("LOCUST_SKIP_MONKEY_PATCH", None)

RUN = "cdcabc"
T0 = 1_700_000_000.0  # load origin, epoch seconds


def params(**changes) -> LoadParams:
    return LoadParams(scenario="cdc-trickle", rate=10.0, duration=100.0, **changes)


# --- the shape ------------------------------------------------------------------------------------


def test_bursts_open_each_window_at_their_own_height_and_the_base_rate_follows():
    shape = create_shape(params(peak=5.0))
    assert isinstance(shape, TableWriteBursts)
    # five windows of 20 s, each a 4 s burst: heights 1, 0.4, 0.75, 0.2, 0.9 of the excess (4 × 10/s)
    assert [shape.rate_at(w * 20 + 1) for w in range(5)] == pytest.approx([50.0, 26.0, 40.0, 18.0, 46.0])
    assert [shape.rate_at(w * 20 + 10) for w in range(5)] == [10.0] * 5
    assert max(shape.rate_at(t / 10) for t in range(1000)) == pytest.approx(shape.peak_rate()) == 50.0


def test_the_default_peak_is_the_scenarios_own():
    assert create_shape(params()).peak_rate() == pytest.approx(40.0)


# --- the sources' writes --------------------------------------------------------------------------


def test_ack_ids_say_what_was_written():
    ids = [ack_id("insert", f"{RUN}-0-1"), ack_id("update", f"{RUN}-0-1"), ack_id("delete", f"{RUN}-0-2"), "x"]
    writes = RunWrites.from_ack_ids(ids)
    assert writes.inserted == {f"{RUN}-0-1", "x"}
    assert writes.updated == {f"{RUN}-0-1"} and writes.deleted == {f"{RUN}-0-2"}


def test_each_customer_has_its_own_write_order_and_a_deleted_item_is_never_picked_again():
    writes = SourceWrites(random.Random(1), RUN, node=0, groups=3)
    assert writes.pick_earlier(remove=False) is None  # nothing inserted yet
    positions: dict[str, list[int]] = {}
    for _ in range(30):
        item_id, group = writes.new_insert()
        positions.setdefault(group, []).append(writes.next_position(group))
        writes.inserted(item_id)
    assert set(positions) <= set(writes.groups) and all(p == list(range(len(p))) for p in positions.values())
    deleted = {writes.pick_earlier(remove=True) for _ in range(30)}
    assert len(deleted) == 30 and writes.pick_earlier(remove=False) is None
    item = insert_item("i", "c", 4, 123)
    assert item["n"] == {"N": "4"} and item["state"] == {"S": "new"} and item["inserted_at_ms"] == {"N": "123"}


# --- the figures ----------------------------------------------------------------------------------


def record(seq: int, item: str, group: str, n: int, *, inserted_s: float, received_s: float, **fields) -> TrickleRecord:
    body = {"id": item, "customer": group, "n": n, "state": "new", "inserted_at_ms": int(inserted_s * 1000)}
    body.update(fields.pop("body", {}))
    return TrickleRecord(
        seq=seq,
        at_ns=int((received_s - T0) * 1e9),
        received_at=int(received_s * 1000),
        method="POST",
        path="/trickle/items",
        group=group,
        body=json.dumps({k: v for k, v in body.items() if v is not None}),
        status=fields.pop("status", 200),
        rate_limit_per_s=fields.pop("rate", 5.0),
        burst=1,
    )


def records(*accepted: TrickleRecord, rate_limited: int = 7, failed: int = 2) -> TrickleRecords:
    return TrickleRecords(accepted=list(accepted), rate_limited=rate_limited, failed=failed, dropped=0)


MARK = cdc_report.PartnerMark(last_seq=10, rate_limited=5, failed=1, rate_limit_per_s=5.0, burst=1)


def figures(recs: TrickleRecords, inserted, updated=(), deleted=(), complete=True):
    writes = RunWrites(frozenset(inserted), frozenset(updated), frozenset(deleted))
    return cdc_report.figures(recs, MARK, writes, run_prefix=RUN, load_end_epoch=T0 + 10, complete=complete)


def item(n: int) -> str:
    return f"{RUN}-0-{n}"


def test_every_insert_once_in_order_gives_exact_lags_and_rates():
    recs = records(
        record(3, "cdcold-0-1", "old", 0, inserted_s=T0 - 50, received_s=T0 - 40),  # before the run
        record(11, item(1), f"{RUN}-c0", 0, inserted_s=T0 + 1, received_s=T0 + 2),
        record(12, item(2), f"{RUN}-c1", 0, inserted_s=T0 + 1, received_s=T0 + 4),
        record(13, item(3), f"{RUN}-c0", 1, inserted_s=T0 + 2, received_s=T0 + 8),
        record(14, "other-0-1", "other", 0, inserted_s=T0, received_s=T0 + 12),  # another source's item
    )
    got = figures(recs, [item(1), item(2), item(3)], updated=[item(1)], deleted=[item(2)])
    assert (got["lag_p50_ms"], got["lag_p99_ms"], got["lag_max_ms"]) == (3000.0, 6000.0, 6000.0)
    assert (got["undelivered"], got["order_violations"], got["duplicates"], got["leaked"]) == (0, 0, 0, 0)
    assert (got["answered_429"], got["answered_5xx"]) == (2, 1)  # since the mark
    assert got["delivered_per_s"] == pytest.approx(3 / 6)
    assert got["trickle_drain_s"] == pytest.approx(0.0)  # last delivery (T0+8) before the load's end (T0+10)
    assert got["most_in_1s"] == 1  # every record after the mark, the other source's included
    cdc = got["cdc"]
    assert (cdc["inserted"], cdc["updated"], cdc["deleted"], cdc["delivered"]) == (3, 1, 1, 3)
    assert cdc["partner_records_during_run"] == 4 and cdc["limits_exceeded"] == []


def test_lost_reordered_repeated_and_leaked_items_are_each_counted():
    group = f"{RUN}-c0"
    recs = records(
        record(11, item(2), group, 1, inserted_s=T0 + 1, received_s=T0 + 2),
        record(12, item(1), group, 0, inserted_s=T0 + 1, received_s=T0 + 3),  # behind a later write
        record(13, item(2), group, 1, inserted_s=T0 + 1, received_s=T0 + 4),  # again
        record(14, item(1), group, 0, inserted_s=T0 + 1, received_s=T0 + 5, body={"state": "updated"}),
        record(15, item(3), group, 2, inserted_s=T0 + 1, received_s=T0 + 6, body={"inserted_at_ms": None}),
        record(16, item(4), group, 3, inserted_s=T0 + 1, received_s=T0 + 7, status=503),  # not a delivery
    )
    got = figures(recs, [item(1), item(2), item(4), item(5)])
    assert got["undelivered"] == 2 and got["cdc"]["undelivered_ids"] == [item(4), item(5)]
    assert got["order_violations"] == 1 and got["cdc"]["groups_out_of_order"] == [group]
    assert got["duplicates"] == 1
    assert got["leaked"] == 2 and (got["cdc"]["leaked_updates"], got["cdc"]["leaked_other"]) == (1, 1)
    assert got["trickle_drain_s"] is None  # not all delivered


def test_a_burst_over_the_limit_in_force_is_named():
    burst = [record(11 + k, item(k), f"{RUN}-c{k}", 0, inserted_s=T0, received_s=T0 + 1 + k / 10) for k in range(8)]
    got = figures(records(*burst), [item(k) for k in range(8)])
    assert got["most_in_1s"] == 8
    assert got["cdc"]["limits_exceeded"] == ["5/s burst 1"] and got["cdc"]["most_in_1s_by_limit"] == {"5/s burst 1": 8}


def test_series_count_every_second_and_the_lag_per_second_of_insert():
    recs = records(
        record(11, item(1), f"{RUN}-c0", 0, inserted_s=T0 + 0.2, received_s=T0 + 1.1),
        record(12, item(2), f"{RUN}-c0", 1, inserted_s=T0 + 0.4, received_s=T0 + 3.5),
    )
    plot = cdc_report.series(recs, MARK, RUN, T0)
    assert plot["cdc_delivered"] == [[1.5, 1], [2.5, 0], [3.5, 1]]
    assert plot["cdc_lag"] == [[0.5, 900.0, 3100.0]]
    assert plot["cdc_lag_bins"]


# --- after the load -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def drained(delivered_after: dict[float, set[str]], queued_until: float, timeout_s: float = 60.0) -> DrainOutcome:
    clock = FakeClock()

    def delivered() -> set[str]:
        return set().union(*(ids for t, ids in delivered_after.items() if clock.now >= t))

    return wait_for_partner(
        delivered,
        lambda: 3 if clock.now < queued_until else 0,
        frozenset({"a", "b"}),
        timeout_s=timeout_s,
        quiet_s=10.0,
        poll_s=2.0,
        clock=clock,
        sleep=clock.sleep,
    )


def test_the_drain_ends_when_every_insert_arrived_and_the_queue_is_empty():
    outcome = drained({4.0: {"a"}, 8.0: {"b"}}, queued_until=8.0)
    assert (outcome.delivered, outcome.undelivered, outcome.timed_out, outcome.quiet) == (2, 0, False, False)
    assert outcome.waited_s == 8.0


def test_an_empty_queue_with_inserts_missing_ends_the_drain_as_lost():
    outcome = drained({0.0: {"a"}}, queued_until=4.0)
    assert outcome.quiet and not outcome.timed_out and outcome.undelivered == 1
    assert outcome.waited_s == 14.0  # empty from 4 s, quiet for 10 s


def test_a_queue_that_never_empties_ends_the_drain_at_its_timeout():
    outcome = drained({}, queued_until=1e9, timeout_s=20.0)
    assert outcome.timed_out and outcome.queued == 3 and outcome.waited_s == 20.0


# --- gates and options ----------------------------------------------------------------------------


def test_lag_gates_read_as_latencies_and_the_default_gates_are_added_once():
    gate = parse_gate("lag_p99<60s")
    assert (gate.metric.key, gate.threshold) == ("lag_p99_ms", 60_000.0)
    assert parse_gate("lag_p(50)<=1s").metric.key == "lag_p50_ms"
    gates = with_default_gates([parse_gate("leaked<=1"), gate])
    assert [g.text for g in gates] == ["leaked<=1", "lag_p99<60s", "undelivered==0", "order_violations==0"]


@pytest.mark.parametrize("scenario", ["steady", "flash-sale", "partner-jobs"])
def test_a_cdc_gate_is_refused_on_every_other_scenario(scenario):
    refusal = unmeasured([parse_gate("lag_p99<60s"), parse_gate("duplicates==0")], scenario)
    assert refusal is not None and "lag_p99<60s, duplicates==0" in refusal and "cdc-trickle" in refusal


@pytest.mark.parametrize("text", ["e2e_p99<5s", "missing==0", "lost==0", "final_p99<1s"])
def test_a_cdc_run_refuses_the_gates_it_does_not_measure(text):
    assert unmeasured([parse_gate(text)], "cdc-trickle") is not None


def test_a_cdc_run_takes_its_own_gates_and_the_write_figures():
    gates = [parse_gate(t) for t in ("lag_p99<60s", "most_in_1s<=21", "answered_429<5", "p99<1s", "errors<1%")]
    assert unmeasured(gates, "cdc-trickle") is None


def test_the_trickle_is_fired_on_emulators_and_left_to_the_rules_on_aws():
    assert default_drive("embedded") == default_drive("localstack") == TrickleDrive.fire
    assert default_drive("aws") == TrickleDrive.schedule


def test_the_table_and_endpoint_reach_locust_as_options_and_the_credentials_only_by_environment(tmp_path: Path):
    run = LocustRun(
        url="http://127.0.0.1:4566",
        params=params(),
        report_dir=tmp_path,
        user_class="OrderSource",
        extra_options={"--cdc-table": "T", "--aws-endpoint-url": "http://127.0.0.1:4566"},
        extra_environment={"AWS_SECRET_ACCESS_KEY": "s3cr3t"},
    )
    command = run.command()
    assert command[-1] == "OrderSource" and command[command.index("--cdc-table") + 1] == "T"
    assert "s3cr3t" not in " ".join(command) and run.environment()["AWS_SECRET_ACCESS_KEY"] == "s3cr3t"
