"""The MiniStack patch ``lambda-dynamodb-stream-failures``: its guard, and its behaviour against
Lambda's documented stream-mapping failure handling, driven over stand-ins for the two MiniStack
modules it uses (the poller's own code runs unchanged)."""

from __future__ import annotations

import contextvars
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from stack.embedded.ministack import streams_patches
from stack.embedded.ministack.patches import PINNED_MINISTACK_VERSION

STREAM_ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/source/stream/2026-01-01T00:00:00.000"


def test_the_guard_accepts_the_pinned_release_and_refuses_another(monkeypatch):
    from ministack.services import dynamodb, lambda_svc

    # Another test in this process may have started the patched server: look at MiniStack's own.
    poller = lambda_svc._poll_dynamodb_streams
    monkeypatch.setattr(lambda_svc, "_poll_dynamodb_streams", getattr(poller, "__wrapped__", poller))
    version = PINNED_MINISTACK_VERSION
    expected = streams_patches._EXPECTED_LAMBDA_SOURCE_SHA256
    assert streams_patches.source_refusal(lambda_svc, expected, version) is None
    assert streams_patches.source_refusal(dynamodb, streams_patches._EXPECTED_DYNAMODB_SOURCE_SHA256, version) is None
    refused = streams_patches.apply_stream_failures_patch(lambda_svc, dynamodb, installed_version="0.0.1")
    assert not refused.applied and "0.0.1" in refused.detail
    assert lambda_svc._poll_dynamodb_streams.__name__ == "_poll_dynamodb_streams"  # untouched


class Emulator:
    """Just what the patched poller reads of MiniStack: one table's stream, one mapping, and a
    function whose answer per call comes from ``behaviour(records) -> result``."""

    def __init__(self, records: int, behaviour, **mapping: Any) -> None:
        self.stream = [
            {
                "eventName": "INSERT",
                "dynamodb": {"SequenceNumber": f"{n:05d}", "ApproximateCreationDateTime": time.time()},
            }
            for n in range(records)
        ]
        self.behaviour = behaviour
        self.invocations: list[list[str]] = []
        self.on_failure: list[tuple[str, list[str]]] = []
        self.esm = {
            "UUID": "esm-1",
            "EventSourceArn": STREAM_ARN,
            "FunctionName": "capture",
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            **mapping,
        }
        self.ddb = SimpleNamespace(
            _stream_records={"source": self.stream},
            _tables={"source": {"LatestStreamArn": STREAM_ARN}},
            stream_start_position=lambda table: 0,
            stream_end_position=lambda table: len(self.stream),
            stream_records_since=lambda table, position, limit: self.stream[position : position + limit],
        )
        self.lam = SimpleNamespace(
            _iter_all_esms=lambda: [("000000000000", "us-east-1", self.esm)],
            _request_account_id=contextvars.ContextVar("account"),
            _request_region=contextvars.ContextVar("region"),
            parse_arn=lambda arn: SimpleNamespace(service="dynamodb", account_id="000000000000", region="us-east-1"),
            ArnParseError=ValueError,
            get_account_id=lambda: "000000000000",
            get_region=lambda: "us-east-1",
            _dynamodb_stream_table_from_arn_spec=lambda spec: ("source", "label"),
            _get_func_record_for_qualifier=lambda name, qualifier: ({"config": {}}, {}),
            _dynamodb_stream_positions={},
            _dynamodb_stream_positions_lock=threading.Lock(),
            _esm_backoff_until={},
            _ESM_BACKOFF_SECONDS=0.0,
            _apply_filter_criteria=lambda batch, esm: batch,
            _execute_function=self._invoke,
            _send_ddb_stream_failure_record=self._send_failure,
            logger=SimpleNamespace(warning=lambda *args: None),
            _poll_dynamodb_streams=lambda: False,
        )
        self.poll = streams_patches.stream_failures_poller(self.lam, self.ddb)

    def _invoke(self, func_rec, event) -> dict:
        sequence = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.invocations.append(sequence)
        return self.behaviour(sequence)

    def _send_failure(self, esm, func_rec, batch, stream_arn, result, condition) -> None:
        self.on_failure.append((condition, [r["dynamodb"]["SequenceNumber"] for r in batch]))

    def run(self, passes: int = 200) -> None:
        for _ in range(passes):  # bounded: every scenario here settles in far fewer
            self.lam._esm_backoff_until.clear()
            self.poll()
            if self.lam._dynamodb_stream_positions.get("esm-1") == len(self.stream):
                return


def _poison(bad: str, *, partial: bool):
    def behaviour(sequence: list[str]) -> dict:
        if bad not in sequence:
            return {"body": None}
        if partial:
            return {"body": {"batchItemFailures": [{"itemIdentifier": bad}]}}
        return {"error": True, "body": {"errorType": "Boom"}}

    return behaviour


def test_a_partial_failure_resumes_at_the_failed_record_and_exhausts_to_the_on_failure_queue():
    emulator = Emulator(10, _poison("00004", partial=True), MaximumRetryAttempts=2)
    emulator.run()
    # The records ahead of the failed one are done; from it on: tried once, retried twice, dropped.
    assert emulator.invocations[0] == [f"{n:05d}" for n in range(10)]
    assert emulator.invocations[1:] == [[f"{n:05d}" for n in range(4, 10)]] * 2
    assert emulator.on_failure == [("RetryAttemptsExhausted", [f"{n:05d}" for n in range(4, 10)])]
    assert emulator.lam._dynamodb_stream_positions["esm-1"] == 10


def test_unpatched_semantics_would_have_lost_the_failed_records_silently():
    # What the patch exists for: MiniStack counted this answer a success and moved on.
    answer = {"body": {"batchItemFailures": [{"itemIdentifier": "00004"}]}}
    assert streams_patches.first_failed_index([{"dynamodb": {"SequenceNumber": "00004"}}], answer, {}) is None
    esm = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
    assert streams_patches.first_failed_index([{"dynamodb": {"SequenceNumber": "00004"}}], answer, esm) == 0


def test_bisecting_isolates_a_poison_record_and_only_it_goes_to_the_on_failure_queue():
    emulator = Emulator(8, _poison("00005", partial=False), BisectBatchOnFunctionError=True, MaximumRetryAttempts=1)
    emulator.run()
    assert emulator.on_failure == [("RetryAttemptsExhausted", ["00005"])]
    succeeded = {s for batch in emulator.invocations if "00005" not in batch for s in batch}
    assert succeeded == {f"{n:05d}" for n in range(8)} - {"00005"}
    assert emulator.lam._dynamodb_stream_positions["esm-1"] == 8


def test_without_a_retry_limit_a_failing_batch_is_retried_and_never_skipped():
    emulator = Emulator(3, _poison("00000", partial=False))
    emulator.run(passes=20)
    assert len(emulator.invocations) == 20 and emulator.on_failure == []
    assert emulator.lam._dynamodb_stream_positions["esm-1"] == 0


def test_an_invalid_item_identifier_fails_the_whole_batch():
    def behaviour(sequence: list[str]) -> dict:
        return {"body": {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}}

    emulator = Emulator(3, behaviour, MaximumRetryAttempts=0)
    emulator.run()
    assert emulator.on_failure == [("RetryAttemptsExhausted", ["00000", "00001", "00002"])]


def test_records_older_than_the_maximum_age_go_to_the_on_failure_queue():
    emulator = Emulator(2, _poison("00000", partial=False), MaximumRecordAgeInSeconds=60)
    for record in emulator.stream:
        record["dynamodb"]["ApproximateCreationDateTime"] = time.time() - 120
    emulator.run()
    assert emulator.on_failure == [("MaxRecordAgeExceeded", ["00000", "00001"])]


@pytest.mark.parametrize("answer", [{"body": None}, {"body": {"batchItemFailures": []}}])
def test_a_success_moves_past_the_batch(answer):
    emulator = Emulator(25, lambda sequence: answer)
    emulator.run()
    assert [len(batch) for batch in emulator.invocations] == [10, 10, 5]
    assert emulator.on_failure == []
