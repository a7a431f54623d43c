"""What the CLI prints at 80 columns (a CI log): ids, URLs and names whole, nothing cut to "…",
no Python reprs; the progress line and the error rate in the units the gates use."""

from __future__ import annotations

import io

from rich.console import Console

from chaos.cli import drill_summary_table, fault_lines
from chaos.runner import DrillResult
from loadtests.cli import ProgressView, _error_rate
from loadtests.model.gates import evaluate, parse_gate
from loadtests.model.params import LoadParams
from stack.cli.delivery import _status_lines
from stack.cli.dlq import dead_letter_lines
from stack.cli.lifecycle import outputs_lines
from stack.deploy.outputs import StackOutputs
from stack.ops.dlq import DeadLetter

EVENT_ID = "evt_0123456789abcdef0123456789abcdef"
QUEUE_URL = "http://127.0.0.1:45049/000000000000/hookstack-production-ingest.fifo"


def at_80_columns(*renderables: object) -> list[str]:
    """Printed as the CLI prints: lines soft-wrapped (never broken by us), tables fitted to 80."""
    console = Console(file=io.StringIO(), width=80, color_system=None)
    for renderable in renderables:
        console.print(renderable, soft_wrap=isinstance(renderable, str), highlight=False, markup=False)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def assert_whole(lines: list[str], *values: str) -> None:
    for value in values:
        assert any(value in line for line in lines), f"{value!r} is not on one line:\n" + "\n".join(lines)
    assert not any("…" in line for line in lines), "\n".join(lines)


def letter(**overrides: object) -> DeadLetter:
    values: dict = {
        "message_id": "m-1",
        "event_id": EVENT_ID,
        "group": "demo:north-outfitters.myshopify.com",
        "reason": "schema mismatch: id: Field required; name: Field required; line_items: Field required",
        "kind": "permanent",
        "dead_lettered_at": 1,
        "tenant": "demo",
        "provider": "shopify",
        "topic": "orders/create",
        "replay_count": 0,
        "receive_count": 1,
        "claim_check": False,
        "body_bytes": 10,
        "body_preview": "{}",
        "body": "{}",
    }
    return DeadLetter(**{**values, **overrides})


def test_dead_letters_show_the_event_id_whole():
    lines = at_80_columns(*dead_letter_lines([letter(), letter(event_id="evt_" + "f" * 32)]))
    assert_whole(lines, EVENT_ID, "evt_" + "f" * 32, "demo:north-outfitters.myshopify.com", "line_items")
    assert lines[0].startswith(EVENT_ID)


def test_outputs_show_queue_urls_whole():
    outputs = StackOutputs(
        target="embedded",
        stage="production",
        region="us-east-1",
        stack_name="hookstack-production",
        api_id="8bcb3bef",
        api_url="http://127.0.0.1:38135/production",
        gateway="hookstack",
        endpoint_url="http://127.0.0.1:45049",
        resources={
            "QueueUrl": QUEUE_URL,
            "DlqUrl": QUEUE_URL.replace("ingest", "ingest-dlq"),
            "EventsTable": "hookstack-production-EventsTable-A73E3297D8658",
            "ProjectionsTable": "hookstack-production-ProjectionsTable-0F2EC2849C380",
            "PayloadBucket": "hookstack-production-payloadbucket-8c3d33bc72474",
        },
        artifacts_bucket="hookstack-production-bootstrap-artifactsbucket-2e22542f42f66",
        function_names={"producer": "hookstack-production-producer"},
    )
    lines = at_80_columns(*outputs_lines(outputs))
    assert_whole(
        lines,
        QUEUE_URL,
        outputs.dlq_url,
        outputs.artifacts_bucket,
        outputs.projections_table,
        "function_names.producer",
    )
    assert not any("{" in line for line in lines)


def drill(name: str, verdict: str) -> DrillResult:
    counts = {
        "sent": 124,
        "acked": 124,
        "processed": 120,
        "dead_lettered": 4,
        "replayed": 4,
        "duplicates_applied": 0,
        "order_violations": 0,
        "missing": 0,
    }
    return DrillResult(
        drill=name,
        summary="",
        verdict=verdict,
        run_id="r",
        target="embedded",
        stage="chaos",
        settings={},
        timings={},
        started_at=0.0,
        duration_s=104.25,
        counts=counts,
        checks=[],
        before_fix=None,
        after_replay=None,
        replay_errors=[],
        error=None,
        timeline={},
    )


def test_the_drill_summary_fits_80_columns_without_cutting_a_word():
    table = drill_summary_table([drill("downstream-outage", "PASS"), drill("slow-downstream", "FAIL")])
    lines = at_80_columns(table)
    assert all(len(line) <= 80 for line in lines)
    assert_whole(lines, "drill", "verdict", "downstream-outage", "slow-downstream", "PASS", "FAIL", "104.2")
    assert len(lines) == 3  # a header and one row per drill: nothing wrapped


def test_active_faults_show_their_id_whole():
    fault = {
        "id": "partner-down-2026-12-01-abcdef",
        "function": "worker",
        "point": "partner",
        "action": "error",
        "expires_at": 100.0,
        "groups": ["demo:north-outfitters.myshopify.com"],
    }
    lines = at_80_columns(*fault_lines([fault], now=40.0))
    assert_whole(lines, "partner-down-2026-12-01-abcdef", "worker/partner/error", "expires in 60s")


def test_an_event_status_reads_as_lines_not_a_python_dict():
    body = {
        "id": EVENT_ID,
        "status": "DEAD_LETTERED",
        "provider": "shopify",
        "topic": "orders/create",
        "reason": "schema mismatch: id: Field required",
        "dead_letter_kind": "permanent",
        "timestamps": {"received_at": {"epoch_ms": 1, "iso": "2026-12-01T13:15:07.300Z"}},
        "attempts": 1,
        "deliveries": 1,
        "replay_count": 0,
    }
    lines = at_80_columns(*_status_lines(200, body))
    assert_whole(lines, EVENT_ID, "DEAD_LETTERED", "2026-12-01T13:15:07.300Z", "schema mismatch")
    assert not any("{" in line or "epoch_ms" in line for line in lines)


def test_the_progress_line_has_no_none_before_the_first_answer():
    view = ProgressView(Console(file=io.StringIO()), LoadParams(scenario="steady", rate=5, duration=30), None)
    view.on_progress(
        {
            "load_time": 2.0,
            "offered_rps": 5.0,
            "sent": 3,
            "completed": 0,
            "errors": 0,
            "p50_ms": None,
            "p99_ms": None,
            "max_ms": None,
        }
    )
    line = view.line()
    assert "None" not in line and "p99(5s)=—" in line


def test_the_error_rate_is_a_percentage_as_in_the_gate_line():
    summary = {"error_rate": 0.0012, "errors": 12, "requests": 10000}
    gate_line = evaluate([parse_gate("errors<0.1%")], summary)[0].line()
    assert _error_rate(summary) == "0.120 % (12 of 10000)"
    assert "0.120 %" in gate_line
