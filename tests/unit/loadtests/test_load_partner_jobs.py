"""The partner-jobs scenario's pure parts (its shape: test_load_shapes.py): its submissions (held to the real intake's
claim-check decision), the jobs' figures from hand-made reads, the gates and deltas on them."""

from __future__ import annotations

import base64
import json
import random
import uuid

import pytest

from handlers.jobs.contract import JobSubmission
from handlers.jobs.intake import decoded_attachments, job_message
from loadtests.jobs_follow import follow_jobs
from loadtests.launcher import LocustRun
from loadtests.model import baseline
from loadtests.model.gates import JOBS_METRIC_KEYS, GateError, against_baseline, evaluate, parse_gate
from loadtests.model.jobs_traffic import SIZE_CLASS_WEIGHTS, AttachmentSizes, PartnerJobTraffic
from loadtests.model.params import LoadParams
from loadtests.partner_jobs import JobsResources, check_gates, with_default_gates
from loadtests.report import jobs as jobs_report
from loadtests.report.jobs import NOT_FOUND, FollowedJob, FollowUp
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError

CLAIM_CHECK = 200 * 1024
QUEUE_LIMIT = 256 * 1024
BODY_LIMIT = 4 * 1024 * 1024
SIZES = AttachmentSizes(CLAIM_CHECK, QUEUE_LIMIT, BODY_LIMIT)


# --- submissions -------------------------------------------------------------------------------


def _intake_keeps_inline(body: bytes) -> bool:
    """What the real intake does with it: the message inline, or the attachments to S3."""
    submission = JobSubmission.model_validate_json(body)
    puts: list[str] = []
    message = job_message(
        "job_" + uuid.uuid4().hex,
        "tenant-a",
        submission,
        decoded_attachments(submission),
        0,
        CLAIM_CHECK,
        lambda key, content, content_type: puts.append(key) or "bucket",
    )
    return not puts and all(ref.inline_base64 is not None for ref in message.attachments)


@pytest.mark.parametrize(
    ("size_class", "inline"),
    [("inline-small", True), ("inline-large", True), ("claim-check", False), ("over-queue-limit", False)],
)
def test_each_size_class_travels_as_its_name_says_through_the_real_intake(size_class, inline):
    traffic = PartnerJobTraffic(random.Random(7), SIZES)
    for _ in range(3):
        job = traffic.job(size_class)
        assert job.size_class == size_class
        assert len(job.body) <= BODY_LIMIT  # within the stage's body limit, base64 and all
        assert _intake_keeps_inline(job.body) is inline
        content = json.loads(job.body)["attachments"][0]["content_base64"]
        assert len(base64.b64decode(content, validate=True)) == job.attachment_bytes


def test_the_largest_class_is_past_the_queue_limit_and_at_most_2_5_mb():
    classes = SIZES.classes()
    assert classes["over-queue-limit"].low > QUEUE_LIMIT
    assert 2_499_997 <= classes["over-queue-limit"].high <= 2_500_000
    assert classes["claim-check"].high < classes["over-queue-limit"].low
    document = json.loads(PartnerJobTraffic(random.Random(1), SIZES).job("over-queue-limit").body)
    assert QUEUE_LIMIT < len(base64.b64decode(document["attachments"][0]["content_base64"])) <= 2_500_000


def test_a_small_body_limit_caps_the_largest_attachment():
    assert AttachmentSizes(CLAIM_CHECK, QUEUE_LIMIT, 1024 * 1024).max_attachment_bytes < 1024 * 1024 * 3 // 4


def test_submissions_are_valid_sample_jobs_with_unique_references():
    traffic = PartnerJobTraffic(random.Random(3), SIZES)
    documents = [json.loads(traffic.job("inline-small").body) for _ in range(50)]
    assert len({d["reference"] for d in documents}) == 50
    other = json.loads(PartnerJobTraffic(random.Random(3), SIZES).job("inline-small").body)
    assert other["reference"] not in {d["reference"] for d in documents}  # seeded runs do not collide
    for document in documents:
        JobSubmission.model_validate(document)
        assert document["data"]["records"] and all("id" in r for r in document["data"]["records"])
        assert 0 < document["data"]["work_seconds"] <= 0.5


def test_the_mix_is_mostly_inline():
    assert sum(SIZE_CLASS_WEIGHTS.values()) == 100
    inline = SIZE_CLASS_WEIGHTS["inline-small"] + SIZE_CLASS_WEIGHTS["inline-large"]
    assert inline > 50 and SIZE_CLASS_WEIGHTS["over-queue-limit"] > 0


def test_the_run_uses_the_partner_user_class_and_passes_the_stage_limits(tmp_path):
    run = LocustRun(url="http://127.0.0.1:1/dev", params=LoadParams(scenario="partner-jobs"), report_dir=tmp_path)
    run.user_class, run.claim_check_bytes, run.max_request_bytes = "PartnerCompany", 1000, 2000
    command = run.command()
    assert command[-1] == "PartnerCompany"
    assert command[command.index("--claim-check-bytes") + 1] == "1000"
    assert command[command.index("--max-request-bytes") + 1] == "2000"


# --- figures -----------------------------------------------------------------------------------


def _job(job_id: str, status: str | None, submitted: float | None = None, updated: float | None = None) -> FollowedJob:
    return FollowedJob(job_id, status, submitted, updated, updated + 50 if updated is not None else None)


def _figures(jobs: list[FollowedJob], accepted: list[str], messages_left: int = 0, **kw):
    follow = FollowUp({job.job_id: job for job in jobs}, messages_left, 3.0, False, 2)
    return jobs_report.figures(
        follow,
        accepted_ids=accepted,
        submitted=kw.get("submitted", len(accepted)),
        status_counts=kw.get("status_counts", {"202": len(accepted)}),
        by_key=kw.get("by_key", {}),
        consumers=2,
    )


def test_every_accepted_job_is_counted_once_by_its_outcome():
    jobs = [
        _job("a", "SUCCEEDED", 1000, 2000),
        _job("b", "SUCCEEDED", 1000, 4000),
        _job("c", "FAILED", 2000, 3000),
        _job("d", "RUNNING", 2000, 2500),
        _job("e", "SUBMITTED", 2000, 2000),
        _job("f", NOT_FOUND),
    ]
    # One message left: one of the two not-final jobs may still finish; the other is lost.
    figures = _figures(jobs, list("abcdef"), messages_left=1, submitted=8, status_counts={"202": 6, "503": 2})
    assert (figures["succeeded"], figures["failed"], figures["unfinished"], figures["lost"]) == (2, 1, 1, 2)
    block = figures["jobs"]
    assert block["submitted"] == 8 and block["accepted"] == 6
    assert block["refused_by_status"] == {"503": 2}
    assert block["lost_no_item"] == 1
    assert figures["final_p50_ms"] == 1000 and figures["final_max_ms"] == 3000  # updated_at - submitted_at
    assert block["final"]["count"] == 3
    # Three final jobs between the first submission (1.0 s) and the last final update (4.0 s).
    assert figures["jobs_per_s"] == 1.0


def test_an_accepted_job_never_read_counts_and_no_message_left_means_lost():
    figures = _figures([_job("a", "SUCCEEDED", 0, 500)], ["a", "b"], messages_left=0)
    assert figures["succeeded"] == 1 and figures["unfinished"] == 0 and figures["lost"] == 1


def test_final_percentiles_are_exact_nearest_rank():
    jobs = [_job(f"j{i}", "SUCCEEDED", 0, float(ms)) for i, ms in enumerate(range(10, 1010, 10))]
    figures = _figures(jobs, [job.job_id for job in jobs])
    assert figures["final_p50_ms"] == 500 and figures["final_p99_ms"] == 990 and figures["final_max_ms"] == 1000


def test_the_202_latency_is_broken_down_by_size_class():
    by_key = {"jobs inline-small": {"ack": {"count": 3, "p99_ms": 12.0}}, "shopify orders/create": {"ack": {}}}
    figures = _figures([], [], by_key=by_key)
    assert figures["jobs"]["ack_by_size_class"] == {"inline-small": {"count": 3, "p99_ms": 12.0}}


def test_without_a_follow_up_no_figure_is_made_up():
    figures = jobs_report.figures(
        None, accepted_ids=["a"], submitted=1, status_counts={"202": 1}, by_key={}, consumers=1, reason="interrupted"
    )
    assert figures["succeeded"] is None and figures["lost"] is None and figures["final_p99_ms"] is None
    assert figures["jobs"]["reason"] == "interrupted"


def test_the_query_timestamps_read_as_epoch_ms():
    job = FollowedJob.from_document(
        "a",
        {"status": "SUCCEEDED", "submitted_at": "1970-01-01T00:00:01.250Z", "updated_at": "1970-01-01T00:00:02Z"},
        9e3,
    )
    assert (job.submitted_ms, job.updated_ms, job.observed_final_ms) == (1250, 2000, 9e3)
    assert FollowedJob.from_document("a", {"status": "RUNNING"}, 9e3).observed_final_ms is None


# --- the follow-up -----------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.01)


def test_the_follow_up_reads_until_every_job_is_final_and_rereads_only_the_rest():
    clock, reads = _Clock(), []
    finals = {"a": 1, "b": 3}  # the pass at which each job reads final

    def read(job_id: str) -> FollowedJob:
        reads.append(job_id)
        passes = reads.count(job_id)
        return FollowedJob(job_id, "SUCCEEDED" if passes >= finals[job_id] else "RUNNING")

    follow = follow_jobs(["a", "b"], read, messages_left=lambda: 1, timeout_s=60, sleep=clock.sleep, clock=clock)
    assert reads == ["a", "b", "b", "b"] and follow.passes == 3 and not follow.timed_out
    assert all(job.final for job in follow.jobs.values())


def test_the_follow_up_is_bounded_by_its_timeout_and_by_empty_queues():
    clock = _Clock()
    running = lambda job_id: FollowedJob(job_id, "RUNNING")  # noqa: E731
    busy = follow_jobs(["a"], running, messages_left=lambda: 1, timeout_s=5, sleep=clock.sleep, clock=clock)
    assert busy.timed_out and busy.passes <= 7 and busy.messages_left == 1
    quiet = follow_jobs(["a"], running, messages_left=lambda: 0, timeout_s=600, sleep=_Clock().sleep, clock=_Clock())
    assert not quiet.timed_out and quiet.passes == 10


# --- gates and baselines -------------------------------------------------------------------------


def test_gates_read_the_jobs_figures():
    summary = {"final_p99_ms": 12_000.0, "unfinished": 0, "lost": 1, "failed": 0, "jobs_per_s": 4.5}
    results = evaluate(
        [parse_gate(text) for text in ("final_p99<30s", "unfinished==0", "lost==0", "jobs_per_s>=5", "p(99)<1s")],
        summary,
    )
    assert [r.passed for r in results] == [True, True, False, False, False]  # p99 not measured here: fails
    assert results[0].gate.threshold == 30_000 and results[0].gate.metric.key == "final_p99_ms"
    assert "4.50 /s" in results[3].line()
    assert parse_gate("final_p(99.9)<1m".replace("1m", "60s")).metric.key == "final_p999_ms"
    with pytest.raises(GateError):
        parse_gate("lost<1ms")


def test_relative_gates_and_deltas_on_the_jobs_figures():
    then = {"scenario": "partner-jobs", "p99_ms": 100.0, "achieved_rps": 5.0, "final_p99_ms": 1000.0, "jobs_per_s": 4.0}
    now = {**then, "final_p99_ms": 1300.0, "jobs_per_s": 5.0}
    [gate] = against_baseline([parse_gate("final_p99<+20%")], then)
    assert gate.threshold == pytest.approx(1200.0) and not gate.check(now).passed
    rows = {d.name: d for d in baseline.deltas(now, then)}
    assert rows["final_p99"].verdict == "worse" and rows["jobs_per_s"].verdict == "better"
    webhook = {"scenario": "steady", "p99_ms": 100.0, "achieved_rps": 5.0}
    assert "final_p99" not in {d.name for d in baseline.deltas(now, webhook)}  # only figures both runs have
    with pytest.raises(GateError, match="did not measure"):
        against_baseline([parse_gate("final_p99<+20%")], webhook)


def test_a_gate_on_a_figure_the_scenario_does_not_measure_is_refused_before_the_run():
    with pytest.raises(HookstackError, match="final_p99<30s"):
        check_gates([parse_gate("final_p99<30s")], "steady")
    with pytest.raises(HookstackError, match="e2e_p99<5s"):
        check_gates([parse_gate("e2e_p99<5s")], "partner-jobs")
    check_gates([parse_gate("p99<1s"), parse_gate("unfinished==0")], "partner-jobs")
    assert {"final_p99_ms", "lost", "unfinished", "jobs_per_s"} <= JOBS_METRIC_KEYS
    assert [g.text for g in with_default_gates([])] == ["lost==0"]
    assert [g.text for g in with_default_gates([parse_gate("lost<=2")])] == ["lost<=2"]


def test_a_stage_without_the_jobs_pattern_is_a_one_line_error_naming_the_fix():
    outputs = StackOutputs(
        target="embedded",
        stage="dev",
        region="us-east-1",
        stack_name="hookstack-dev",
        api_id="x",
        api_url="http://127.0.0.1:1/dev",
        gateway="hookstack",
        artifacts_bucket="b",
        function_names={},
        resources={"QueueUrl": "q"},
    )
    with pytest.raises(HookstackError) as error:
        JobsResources.from_outputs(outputs)
    assert "hookstack up --pattern jobs" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(HookstackError, match="--target"):
        JobsResources.from_outputs(None)
