"""``hookstack load --scenario partner-jobs``: partner jobs instead of webhooks.

On a stage with the jobs pattern: start ``--consumers`` consumer machines, submit jobs on the
scenario's shape through Locust (``PartnerCompany``: attachments from inline to past the queue's
limit), follow every accepted job through ``GET /jobs/{id}`` to its final status, stop the
consumers (whatever happened: a context manager), and write the usual reports with the jobs'
figures (``loadtests.report.jobs``). Called by ``loadtests.cli.load`` once the stage, the URL and
the cost are checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loadtests.jobs_consumers import LoadConsumers
from loadtests.jobs_follow import JobReader, follow_jobs
from loadtests.launcher import LocustInterrupted, LocustRun, LocustRunError, run_locust
from loadtests.model.gates import Gate, GateResult, parse_gate, unmeasured
from loadtests.model.jobs_traffic import AttachmentSizes, PartnerJobTraffic
from loadtests.report import breakdown, interrupted, jobs_html
from loadtests.report import jobs as jobs_report
from loadtests.report import summary as run_summary
from loadtests.report.e2e import BacklogSampler
from loadtests.scenario_run import Progress, finish_run, judge, print_run_table, request_summary, submissions_rows
from stack.clients.token_placement import TokenPlacement
from stack.clients.webhook_client import ApiClient
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError

SCENARIO = "partner-jobs"
PATTERN = "jobs"
USER_CLASS = "PartnerCompany"  # loadtests/locust/locustfile.py
E2E_NOTE = "partner-jobs: jobs are followed through GET /jobs/{id} (see `jobs` and final_*), not the events table"
WARMUP_CONCURRENCY = 10


@dataclass(frozen=True)
class JobsResources:
    jobs_queue_url: str
    jobs_dlq_url: str
    results_queue_url: str
    intake_function: str | None

    @classmethod
    def from_outputs(cls, outputs: StackOutputs | None) -> JobsResources:
        """The stage's jobs pattern; a one-line error (before any load) when it has none."""
        if outputs is None:
            raise HookstackError(
                f"--scenario {SCENARIO} starts consumer machines on a deployed stage: pass --target "
                f"(and --stage) of one with the jobs pattern (`hookstack up --pattern {PATTERN}`)"
            )
        return cls(
            jobs_queue_url=outputs.resource("JobsQueueUrl", PATTERN),
            jobs_dlq_url=outputs.resource("JobsDlqUrl", PATTERN),
            results_queue_url=outputs.resource("JobResultsQueueUrl", PATTERN),
            intake_function=outputs.function_names.get("jobs-intake"),
        )


def check_gates(gates: list[Gate], scenario: str) -> None:
    """A gate on a figure the scenario does not measure is refused before the run (any scenario)."""
    refusal = unmeasured(gates, scenario)
    if refusal:
        raise HookstackError(refusal)


def with_default_gates(gates: list[Gate]) -> list[Gate]:
    """An accepted job must never be lost: ``lost==0`` is always checked."""
    if any(g.metric.key == "lost" for g in gates):
        return gates
    return [*gates, parse_gate("lost==0")]


@dataclass(frozen=True)
class StageLimits:
    claim_check_bytes: int
    max_request_bytes: int
    queue_limit_bytes: int


def read_stage_limits(outputs: StackOutputs, resources: JobsResources) -> StageLimits:
    """The deployed intake's limits (its environment), else the stage's configuration; the jobs
    queue's MaximumMessageSize, else SQS's."""
    from stack.config import load_config  # local: only this scenario needs the stage's settings

    config = load_config(stage=outputs.stage)
    claim_check, body = config.claim_check_bytes, config.max_request_bytes
    if resources.intake_function:
        try:
            variables = outputs.client("lambda").get_function_configuration(FunctionName=resources.intake_function)[
                "Environment"
            ]["Variables"]
            claim_check = int(variables.get("CLAIM_CHECK_BYTES", claim_check))
            body = int(variables.get("MAX_BODY_BYTES", body))
        except Exception:  # noqa: BLE001 - boto3 raises many types; the configuration is the fallback
            pass
    queue_limit = 256 * 1024
    try:
        attributes = outputs.client("sqs").get_queue_attributes(
            QueueUrl=resources.jobs_queue_url, AttributeNames=["MaximumMessageSize"]
        )["Attributes"]
        queue_limit = int(attributes["MaximumMessageSize"])
    except Exception:  # noqa: BLE001 - an emulator may not report it: SQS's limit
        pass
    return StageLimits(claim_check, body, queue_limit)


def messages_left(sqs: Any, resources: JobsResources) -> int:
    """Messages that may still finish a job: the jobs queue, its DLQ, the response queue."""
    total = 0
    for url in (resources.jobs_queue_url, resources.jobs_dlq_url, resources.results_queue_url):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        total += sum(int(value) for value in attributes.values())
    return total


def warm_up_jobs(
    api_url: str, token: str, placement: TokenPlacement, limits: StageLimits, count: int
) -> dict[str, Any]:
    """A few small jobs before the load (10 at a time), reported apart: the intake's and the
    query's cold starts are not the scenario. The consumers run them; they are not followed."""
    import random

    traffic = PartnerJobTraffic(
        random.Random(), AttachmentSizes(limits.claim_check_bytes, limits.queue_limit_bytes, limits.max_request_bytes)
    )
    bodies = [traffic.job("inline-small").body for _ in range(count)]
    note = "small jobs before the load; run by the consumers, not counted in the figures"
    return warm_up_posts(api_url, token, placement, "/jobs", bodies, note)


def warm_up_posts(
    api_url: str, token: str, placement: TokenPlacement, path: str, bodies: Sequence[bytes], note: str
) -> dict[str, Any]:
    """``POST path`` of each body (10 at a time), each accepted one read once (``GET path/{id}``):
    the cold starts of the intake and the query, reported apart."""

    def submit(body: bytes) -> tuple[int, float, str | None]:
        client = ApiClient(api_url, token, placement, timeout=30)
        try:
            answer = client.request("POST", path, body, {"Content-Type": "application/json"})
            resource_id = answer.json().get("id") if answer.status == 202 else None
            if resource_id:
                client.request("GET", f"{path}/{resource_id}")
            return answer.status, answer.latency_ms, resource_id
        except (HookstackError, OSError, ValueError):
            return 0, 0.0, None
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=WARMUP_CONCURRENCY) as pool:
        answers = list(pool.map(submit, bodies))
    statuses: dict[str, int] = {}
    for status, _, _ in answers:
        statuses[str(status or "transport_error")] = statuses.get(str(status or "transport_error"), 0) + 1
    latencies = sorted(ms for status, ms, _ in answers if status)
    return {
        "requests": len(bodies),
        "status_counts": statuses,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "note": note,
    }


class JobsProgress(Progress):
    """The load's lines, then the follow-up's: how many jobs are final."""

    def on_follow(self, jobs: Mapping[str, jobs_report.FollowedJob]) -> None:
        self.line(lambda: f"following jobs: {sum(1 for job in jobs.values() if job.final)} / {len(jobs)} final")


def build_summary(
    result: dict[str, Any],
    follow: jobs_report.FollowUp | None,
    *,
    target: str,
    consumers: int,
    gates: list[Gate],
    follow_note: str | None = None,
) -> tuple[dict[str, Any], list[GateResult]]:
    """The run's summary: the webhook summary's request figures (202 latency, errors, rates),
    the per-size-class breakdown and the jobs' figures; gates evaluated on all of it."""
    summary = request_summary(result, target=target, e2e_note=E2E_NOTE)
    summary.update(
        jobs_report.figures(
            follow,
            accepted_ids=result.get("acked_ids", []),
            submitted=summary["requests"] + summary["unsent"],
            status_counts=result["status_counts"],
            by_key=summary["by_key"],
            consumers=consumers,
            reason=follow_note,
        )
    )
    return summary, judge(gates, summary)


def _print_jobs(console: Console, summary: dict[str, Any], paths: tuple[Path, Path]) -> None:
    jobs = summary["jobs"]
    table = Table(title=f"hookstack load · {SCENARIO} · {summary['target']}", show_header=False)
    rows = submissions_rows(summary, jobs)
    for size_class, ack in jobs["ack_by_size_class"].items():
        if ack:
            rows.append((f"  202 p50/p99 · {size_class}", f"{ack['p50_ms']} / {ack['p99_ms']} ms ({ack['count']})"))
    if jobs.get("followed"):
        final = jobs["final"]
        rows += [
            (
                "succeeded / failed / unfinished / lost",
                f"{jobs['succeeded']} / {jobs['failed']} / {jobs['unfinished']} / {jobs['lost']}",
            ),
            (
                "submit → final p50/p99/max (job record)",
                f"{final['p50_ms']} / {final['p99_ms']} / {final['max_ms']} ms",
            ),
            ("consumers / jobs per second", f"{jobs['consumers']} / {summary['jobs_per_s']}"),
        ]
    else:
        rows.append(("jobs followed", f"no: {jobs.get('reason')}"))
    for name, value in rows:
        table.add_row(name, value)
    print_run_table(console, table, summary, paths)


def run(
    *,
    outputs: StackOutputs,
    resources: JobsResources,
    locust: LocustRun,
    token: str,
    placement: TokenPlacement,
    consumers: int,
    follow_timeout_s: float,
    gates: list[Gate],
    warmup: int,
    baseline_run: Path | None,
    baseline_summary: dict[str, Any] | None,
    junit: Path | None,
) -> None:
    """The whole run; exits 1 on a failed gate, 130 when interrupted (partial reports written)."""
    console = Console(stderr=True)
    limits = read_stage_limits(outputs, resources)
    locust.user_class = USER_CLASS
    locust.claim_check_bytes = limits.claim_check_bytes
    locust.max_request_bytes = limits.max_request_bytes
    locust.max_body_bytes = limits.queue_limit_bytes
    progress = JobsProgress(console, locust.params.duration)
    sqs = outputs.client("sqs")
    follow: jobs_report.FollowUp | None = None
    follow_note: str | None = None
    stopped_during: str | None = None
    warmed: dict[str, Any] = {"requests": 0}
    sampler = BacklogSampler(
        sqs, resources.jobs_queue_url, resources.jobs_dlq_url, max_seconds=locust.time_budget() + follow_timeout_s + 60
    )
    with LoadConsumers(outputs.stage, outputs.target, locust.report_dir / "consumers", consumers) as fleet:
        console.print(f"{consumers} consumer(s) started (logs: {fleet.log_dir})")
        sampler.start()
        try:
            if warmup > 0:
                with console.status(f"warming up: {warmup} small jobs"):
                    warmed = warm_up_jobs(outputs.api_url, token, placement, limits, warmup)
                console.print(f"warm-up: {warmed['status_counts']}, max {warmed['max_ms']} ms")
            try:
                result = run_locust(locust, on_progress=progress.on_load)
            except LocustRunError as exc:
                raise HookstackError(str(exc)) from None
            except LocustInterrupted as exc:
                if exc.result is None:
                    raise KeyboardInterrupt from None
                result, stopped_during = interrupted.measured_part(exc.result), "load"
                follow_note = "interrupted (Ctrl-C) during the load: jobs not followed"
            if stopped_during is None:
                reader = JobReader(outputs.api_url, token, placement)
                seen: dict[str, jobs_report.FollowedJob] = {}

                def on_pass(jobs: dict[str, jobs_report.FollowedJob]) -> None:
                    seen.update(jobs)
                    progress.on_follow(jobs)

                try:
                    follow = follow_jobs(
                        result["acked_ids"],
                        reader.read,
                        messages_left=lambda: messages_left(sqs, resources),
                        timeout_s=follow_timeout_s,
                        on_pass=on_pass,
                    )
                except KeyboardInterrupt:
                    stopped_during = "drain"
                    follow = jobs_report.FollowUp(dict(seen), messages_left(sqs, resources), 0.0, True, 0)
                finally:
                    reader.close()
        finally:
            sampler.stop()
    summary, results = build_summary(
        result, follow, target=outputs.target, consumers=consumers, gates=gates, follow_note=follow_note
    )
    summary["warmup"] = warmed
    plot = run_summary.series(result, sampler.samples)
    plot["errors_timeline"] = breakdown.errors_timeline(result)
    plot["final_bins"] = jobs_report.final_bins(follow)
    finish_run(
        summary,
        results,
        plot,
        result=result,
        stopped_during=stopped_during,
        report_dir=locust.report_dir,
        section=jobs_html.section,
        print_table=_print_jobs,
        scenario=SCENARIO,
        junit=junit,
        baseline_run=baseline_run,
        baseline_summary=baseline_summary,
    )
