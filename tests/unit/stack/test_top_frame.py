"""`hookstack top`'s frame, from a stats document recorded from a running embedded stack."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from stack.ops.top import QueueDepth, build_frame, read_depths, render, stage_queues

RECORDED = json.loads((Path(__file__).parent / "recorded_gateway_stats.json").read_text())
FUNCTION_NAMES = {
    "authorizer": "hookstack-dev-authorizer",
    "producer": "hookstack-dev-producer",
    "worker": "hookstack-dev-worker",
    "status": "hookstack-dev-status",
}
QUEUES = [QueueDepth("Queue", 1900, 20, 0), QueueDepth("Dlq", 3, 0, 0), QueueDepth("JobsQueue", error="gone")]


def frame(stats, **overrides):
    arguments = {
        "stage": "dev",
        "target": "embedded",
        "api_url": "http://127.0.0.1:42979/dev",
        "function_names": FUNCTION_NAMES,
        "queues": QUEUES,
        "stats": stats,
        "now": RECORDED["event_plane"]["written_at"] + 1,
    }
    return build_frame(**{**arguments, **overrides})


def text_of(renderable, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_every_queue_output_is_a_queue_whatever_its_pattern():
    resources = {
        "QueueUrl": "u1",
        "DlqUrl": "u2",
        "JobsQueueUrl": "u3",
        "JobResultsDlqUrl": "u4",
        "EventsTable": "t",
        "ApiUrl": "https://x",
    }
    assert stage_queues(resources) == {"Queue": "u1", "Dlq": "u2", "JobsQueue": "u3", "JobResultsDlq": "u4"}


def test_a_recorded_stats_document_becomes_functions_mappings_and_recent_answers():
    built = frame(RECORDED)
    by_name = {row.name: row for row in built.functions}
    assert set(by_name) == set(FUNCTION_NAMES)  # short names, the event plane's worker included
    worker = RECORDED["event_plane"]["functions"]["hookstack-dev-worker"]
    assert by_name["worker"].served_by == "event plane"
    assert by_name["worker"].cold_starts == worker["cold_starts"]
    assert by_name["worker"].init_max_ms == max(worker["init_ms"])
    producer = RECORDED["functions"]["hookstack-dev-producer"]
    assert (by_name["producer"].environments, by_name["producer"].idle) == (producer["environments"], producer["idle"])
    assert [m.label for m in built.mappings] == list(RECORDED["event_plane"]["mappings"])
    assert built.mappings[0].function == "worker"
    assert built.recent is not None
    assert built.recent.acks == RECORDED["recent"]["acks"]["count"]
    assert built.recent.ack_p99_ms == RECORDED["recent"]["acks"]["p99_ms"]
    assert built.notes == []


def test_the_frame_fits_80_columns_and_shows_what_is_wrong():
    stats = copy.deepcopy(RECORDED)
    pool = stats["functions"]["hookstack-dev-producer"]
    pool.update(busy=4, idle=0, queued=37, errors=2, throttles=1)
    stats["recent"]["others"] = {"count": 5, "p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 2.0}
    stats["recent"]["statuses"] = {"202": 10, "429": 5}
    text = text_of(render(frame(stats)))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    producer = next(line for line in lines if line.lstrip().startswith("producer"))
    assert producer.split()[1:7] == ["1", "4", "0", "0", "37", str(pool["cold_starts"])]
    assert producer.split()[-1] == "3"  # raised + throttled
    assert any(line.split()[:3] == ["Queue", "1900", "20"] for line in lines)
    assert "JobsQueue: gone" in text
    assert "429×5" in text
    assert "WorkerQueueMapping → worker" in text


def test_without_the_data_plane_the_frame_says_why():
    built = frame(None, stats_note="functions and recent answers: not supported on this target (gateway: aws)")
    assert built.functions == [] and built.recent is None
    text = text_of(render(built))
    assert "not supported on this target" in text
    assert "Queue" in text


def test_stale_event_plane_figures_and_an_older_gateway_are_noted():
    stats = copy.deepcopy(RECORDED)
    del stats["recent"]
    built = frame(stats, now=RECORDED["event_plane"]["written_at"] + 60)
    assert any("60 s old" in note for note in built.notes)
    assert any("no recent answers" in note for note in built.notes)


@pytest.mark.usefixtures("aws")
def test_queue_depths_are_read_per_queue_and_an_unreadable_one_does_not_blank_the_rest():
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="top-depth")["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)
    depths = read_depths(sqs, {"Queue": url, "Dlq": url + "-missing"})
    assert depths[0] == QueueDepth("Queue", visible=2, in_flight=1, delayed=0)
    assert depths[1].label == "Dlq" and depths[1].error is not None
