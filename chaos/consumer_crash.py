"""The consumer-crash drill, on a stage with the jobs pattern: a batch of jobs long enough to be
caught mid-run, consumer machines (``hookstack consumer`` processes) killed with SIGKILL while they
run jobs — a replacement started after each kill — then the surviving consumers left to finish.

Verdict (``chaos.jobs_reconcile``): every accepted job SUCCEEDED once in effect (its customer
records inserted, none extra), none failed, lost or stuck, none in the jobs DLQ. The drill's own
check: a job that was running on a killed consumer ended SUCCEEDED by another one (a kill that
never caught a job mid-run proved nothing).

A killed consumer's job shows again after the jobs queue's visibility timeout (the heartbeat
extended it by at most that), so the drill stage uses a short one (``chaos.stage.JOBS_DRILL_OVERRIDES``).
The ``delete-first`` sabotage runs consumers that delete each message before running it
(``chaos.delete_first_consumer``): a kill then loses the job, and the drill must FAIL.
"""

from __future__ import annotations

import json
import math
import secrets as secrets_module
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chaos.consumer_fleet import CrashDrillFleet, delete_first_launcher
from chaos.context import Check, DrillSettings
from chaos.jobs_reconcile import (
    JobsObservation,
    JobsReconciliation,
    KilledRun,
    SubmittedJob,
    consumer_pid,
    reconcile_jobs,
)
from chaos.observe import queue_depths
from chaos.runner import DrillResult
from handlers.jobs.contract import JobStatus
from handlers.jobs.store import JobStore
from stack.clients.webhook_client import ApiClient
from stack.deploy.outputs import StackOutputs, tenant_token
from stack.errors import HookstackError

NAME = "consumer-crash"
SUMMARY = (
    "consumer machines killed (SIGKILL) in the middle of jobs, replacements started; every "
    "accepted job still ends SUCCEEDED once in effect, none lost or stuck"
)
PATTERN = "jobs"
SABOTAGE = "delete-first"
CONSUMERS = 2  # running at any time
CONCURRENCY = 2  # jobs per consumer at once
CRASHES = 3  # fewer than maxReceiveCount (3 by default) kills of any one job: none reaches the DLQ
WORK_SECONDS = 5.0  # each job's simulated work: long enough to be caught running
RECORDS_PER_JOB = 3
POLL_S = 0.5
QUIET_POLLS = 10  # nothing left queued for this many polls: the unfinished jobs will never finish
CRASH_PHASE_S = 60.0
SUBMIT_THREADS = 4
SCAN_PAGES = 50


@dataclass(frozen=True)
class JobsTimings:
    visibility_timeout_s: float
    max_receive_count: int

    def estimate_s(self, jobs: int) -> float:
        """Submit and crash phases, one redelivery, the work itself (twice: killed runs start over)."""
        waves = math.ceil(jobs / (CONSUMERS * CONCURRENCY))
        return 30 + self.visibility_timeout_s + 2 * waves * WORK_SECONDS + 20


def read_jobs_timings(outputs: StackOutputs) -> JobsTimings:
    attributes = outputs.client("sqs").get_queue_attributes(
        QueueUrl=outputs.resource("JobsQueueUrl", PATTERN), AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
    )["Attributes"]
    redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
    return JobsTimings(float(attributes.get("VisibilityTimeout", 300)), int(redrive.get("maxReceiveCount", 0) or 0))


@dataclass(frozen=True)
class PlannedJob:
    key: str
    body: bytes
    customer: str
    record_ids: tuple[str, ...]


def plan_jobs(run_id: str, jobs: int, work_seconds: float = WORK_SECONDS) -> list[PlannedJob]:
    """``jobs`` valid sample jobs of one customer per run, each with its own records."""
    customer = f"crash-{run_id}"
    planned = []
    for index in range(jobs):
        key = f"cc-{run_id}-{index:03d}"
        record_ids = tuple(f"j{index:03d}r{n}" for n in range(RECORDS_PER_JOB))
        document = {
            "reference": key,
            "customer": customer,
            "type": "import",
            "data": {"records": [{"id": r, "name": f"record {r}"} for r in record_ids], "work_seconds": work_seconds},
        }
        planned.append(PlannedJob(key, json.dumps(document).encode(), customer, record_ids))
    return planned


class JobsObserver:
    """What the stage holds for the drill's jobs: the jobs table, the records table, the queues."""

    def __init__(self, outputs: StackOutputs) -> None:
        self.dynamodb = outputs.client("dynamodb")
        self.sqs = outputs.client("sqs")
        self.store = JobStore(self.dynamodb, outputs.resource("JobsTable", PATTERN))
        self.records_table = outputs.resource("CustomerRecordsTable", PATTERN)
        self.jobs_queue = outputs.resource("JobsQueueUrl", PATTERN)
        self.jobs_dlq = outputs.resource("JobsDlqUrl", PATTERN)
        self.results_queue = outputs.resource("JobResultsQueueUrl", PATTERN)

    def messages(self, queue_url: str) -> int:
        return sum(queue_depths(self.sqs, queue_url))

    def jobs(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {job_id: item for job_id in job_ids if (item := self.store.get(job_id)) is not None}

    def record_keys(self, customers: set[str]) -> frozenset[str]:
        keys: set[str] = set()
        for customer in sorted(customers):
            request: dict[str, Any] = {
                "TableName": self.records_table,
                "FilterExpression": "customer = :c",
                "ExpressionAttributeValues": {":c": {"S": customer}},
                "ProjectionExpression": "id",
                "ConsistentRead": True,
            }
            for _ in range(SCAN_PAGES):
                page = self.dynamodb.scan(**request)
                keys.update(item["id"]["S"] for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return frozenset(keys)

    def observation(self, job_ids: list[str], customers: set[str]) -> JobsObservation:
        return JobsObservation(
            jobs=self.jobs(job_ids),
            record_keys=self.record_keys(customers),
            queue_messages=self.messages(self.jobs_queue),
            dlq_messages=self.messages(self.jobs_dlq),
        )


class JobsTimeline:
    """Samples (queue depth, SUCCEEDED count, DLQ depth) and marks, in the shape the drill report
    plots (``chaos.report.SERIES``); sampled by the drill's own polls, no thread."""

    def __init__(self) -> None:
        self.started = time.time()
        self.samples: list[dict[str, float]] = []
        self.marks: list[dict[str, Any]] = []

    def now(self) -> float:
        return round(time.time() - self.started, 3)

    def mark(self, kind: str, detail: str = "") -> None:
        self.marks.append({"t": self.now(), "kind": kind, "detail": detail})

    def sample(self, observer: JobsObserver, jobs: dict[str, dict[str, Any]]) -> None:
        visible, in_flight, _ = queue_depths(observer.sqs, observer.jobs_queue)
        dlq = observer.messages(observer.jobs_dlq)
        succeeded = sum(1 for item in jobs.values() if item.get("status") == JobStatus.SUCCEEDED)
        self.samples.append(
            {
                "t": self.now(),
                "queue_visible": visible,
                "queue_in_flight": in_flight,
                "processed": succeeded,
                "dead_lettered": dlq,
                "dlq": dlq,
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return {"started": self.started, "samples": self.samples, "marks": self.marks}


def submit_jobs(outputs: StackOutputs, planned: list[PlannedJob], deadline: float) -> list[SubmittedJob]:
    """POST /jobs for each planned job (a few at once); each answer, 0 for a request that failed."""
    token = tenant_token(outputs)

    def one(job: PlannedJob) -> SubmittedJob:
        status, job_id = 0, None
        if time.monotonic() < deadline:
            client = ApiClient(outputs.api_url, token, timeout=35)
            try:
                answer = client.request("POST", "/jobs", job.body, {"Content-Type": "application/json"})
                status = answer.status
                job_id = answer.json().get("id") if status == 202 else None
            except HookstackError:
                status = 0
            finally:
                client.close()
        return SubmittedJob(job.key, status, job_id, job.customer, job.record_ids)

    with ThreadPoolExecutor(max_workers=SUBMIT_THREADS) as pool:
        return list(pool.map(one, planned))


def _running_on(jobs: dict[str, dict[str, Any]], alive: set[int], spared: set[str]) -> dict[int, list[str]]:
    """Alive consumer pid → the jobs it runs now (RUNNING, reported by it), but for ``spared``."""
    running: dict[int, list[str]] = {}
    for job_id, item in sorted(jobs.items()):
        pid = consumer_pid(item.get("consumer"))
        if item.get("status") == JobStatus.RUNNING and pid in alive and job_id not in spared:
            running.setdefault(pid, []).append(job_id)
    return running


class ConsumerCrashDrill:
    """One run: submit, start the consumers, kill some mid-job, let the rest finish, reconcile."""

    def __init__(
        self,
        outputs: StackOutputs,
        settings: DrillSettings,
        log_dir: Path,
        progress: Callable[[str], None],
        timings: JobsTimings,
    ) -> None:
        self.outputs = outputs
        self.settings = settings
        self.progress = progress
        self.timings = timings
        self.run_id = secrets_module.token_hex(3)
        self.observer = JobsObserver(outputs)
        self.timeline = JobsTimeline()
        self.checks: list[Check] = []
        self.kills: list[KilledRun] = []
        sabotaged = settings.sabotage == SABOTAGE
        self.fleet = CrashDrillFleet(
            outputs.stage,
            outputs.target,
            log_dir,
            concurrency=CONCURRENCY,
            max_started=CONSUMERS + CRASHES + 2,
            launcher=delete_first_launcher(outputs.stage, outputs.target, CONCURRENCY) if sabotaged else None,
        )
        self.deadline = time.monotonic() + settings.max_seconds

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, bool(ok), detail))
        self.progress(f"{'ok ' if ok else 'FAILED'} check: {name}: {detail}")

    def preflight(self) -> None:
        for what, url in (("jobs queue", self.observer.jobs_queue), ("jobs DLQ", self.observer.jobs_dlq)):
            depth = self.observer.messages(url)
            if depth:
                raise HookstackError(
                    f"the {what} of stage {self.outputs.stage} holds {depth} message(s) from before this drill: "
                    "drills need a quiet stage"
                )

    def _poll(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        jobs = self.observer.jobs(job_ids)
        self.timeline.sample(self.observer, jobs)
        return jobs

    def _start_consumer(self, why: str) -> None:
        process = self.fleet.start()
        self.timeline.mark("consumer_start", f"pid {process.pid}: {why}")
        self.progress(f"consumer {process.pid} started ({why})")

    def crash_phase(self, job_ids: list[str]) -> None:
        """Kill a consumer that runs jobs, start another; ``CRASHES`` times (bounded in time)."""
        deadline = time.monotonic() + min(CRASH_PHASE_S, self.remaining())
        killed_jobs: set[str] = set()
        while len(self.fleet.killed) < CRASHES and time.monotonic() < deadline:
            jobs = self._poll(job_ids)
            if all(JobStatus(item["status"]).final for item in jobs.values()) and len(jobs) == len(job_ids):
                break
            running = _running_on(jobs, self.fleet.pids(), killed_jobs)
            if not running:
                time.sleep(POLL_S)
                continue
            pid = min(running)
            self.fleet.kill(pid)
            self.kills.extend(KilledRun(job_id, pid) for job_id in running[pid])
            killed_jobs.update(running[pid])
            detail = f"pid {pid} running {', '.join(running[pid])}"
            self.timeline.mark("kill", detail)
            self.progress(f"SIGKILL consumer {detail}")
            self._start_consumer(f"replaces {pid}")

    def finish_phase(self, job_ids: list[str]) -> None:
        """Until every job is final, or nothing is left queued to finish the rest (bounded)."""
        budget = min(self.timings.estimate_s(len(job_ids)), self.remaining())
        self.progress(f"waiting at most {budget:.0f}s for every job to finish")
        deadline = time.monotonic() + budget
        quiet = 0
        while time.monotonic() < deadline:
            jobs = self._poll(job_ids)
            if len(jobs) == len(job_ids) and all(JobStatus(item["status"]).final for item in jobs.values()):
                self.timeline.mark("settled", "every job final")
                return
            left = self.observer.messages(self.observer.jobs_queue) + self.observer.messages(
                self.observer.results_queue
            )
            quiet = quiet + 1 if left == 0 else 0
            if quiet >= QUIET_POLLS:
                self.timeline.mark("settled", "jobs unfinished, nothing left queued")
                return
            while len(self.fleet.pids()) < CONSUMERS:
                self._start_consumer("a consumer ended by itself")
            time.sleep(POLL_S)
        self.timeline.mark("settle_timeout", f"not every job final within {budget:.0f}s")

    def run(self) -> tuple[list[SubmittedJob], JobsReconciliation | None, str | None]:
        submitted: list[SubmittedJob] = []
        error = None
        planned = plan_jobs(self.run_id, self.settings.events)
        try:
            self.timeline.mark("drill_start", NAME)
            submitted = submit_jobs(self.outputs, planned, self.deadline)
            accepted = [job for job in submitted if job.accepted]
            self.timeline.mark("send", f"{len(submitted)} jobs submitted, {len(accepted)} accepted")
            self.progress(f"{len(submitted)} jobs of {WORK_SECONDS:g} s submitted, {len(accepted)} accepted")
            job_ids = [str(job.job_id) for job in accepted]
            for n in range(CONSUMERS):
                self._start_consumer(f"consumer {n + 1} of {CONSUMERS}")
            self.crash_phase(job_ids)
            self.finish_phase(job_ids)
        except HookstackError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the drill itself broke: FAIL with the cause, never a silent pass
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        finally:
            self.fleet.stop_all()
            self.timeline.mark("consumers_stopped", f"{self.fleet.started} started, {len(self.fleet.killed)} killed")
        if not submitted:
            return submitted, None, error
        ids = [str(job.job_id) for job in submitted if job.accepted]
        reconciliation = reconcile_jobs(
            submitted, self.observer.observation(ids, {job.customer for job in submitted}), self.kills
        )
        return submitted, reconciliation, error


def counts(reconciliation: JobsReconciliation | None, fleet: CrashDrillFleet) -> dict[str, Any]:
    """The drill's counts, under the names the other drills use where they mean the same."""
    r = reconciliation or JobsReconciliation()
    return {
        "sent": r.submitted,
        "acked": r.accepted,
        "rejected": r.rejected,
        "processed": r.succeeded,
        "failed": r.failed,
        "unfinished": r.unfinished,
        "lost": r.lost,
        "stuck": r.stuck,
        "missing": r.lost + r.stuck,
        "dead_lettered": r.dead_lettered,
        "records_expected": r.records_expected,
        "records_found": r.records_found,
        "records_missing": r.records_missing,
        "records_unexpected": r.records_unexpected,
        "consumers_started": fleet.started,
        "consumers_killed": len(fleet.killed),
        "killed_runs": r.killed_runs,
        "rerun_after_kill": r.rerun_after_kill,
    }


def run_consumer_crash(
    outputs: StackOutputs,
    settings: DrillSettings | None = None,
    *,
    progress: Callable[[str], None] = lambda message: None,
) -> DrillResult:
    """The drill end to end; a HookstackError when it cannot start (no jobs pattern, budget, a
    busy stage), else a PASS/FAIL result."""
    settings = settings or DrillSettings(events=8)
    if settings.sabotage not in (None, SABOTAGE):
        raise HookstackError(f"{NAME} takes the {SABOTAGE} sabotage only, not {settings.sabotage}")
    timings = read_jobs_timings(outputs)
    estimate = timings.estimate_s(settings.events)
    if estimate > settings.max_seconds:
        raise HookstackError(
            f"{NAME} needs about {estimate:.0f}s on stage {outputs.stage} (jobs visibility timeout "
            f"{timings.visibility_timeout_s:g}s) and the budget is {settings.max_seconds:g}s: raise --max-seconds, "
            "or run it on a drill-sized stage (embedded: --fresh)"
        )
    started_at, started = time.time(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hookstack-consumers-") as log_dir:
        drill = ConsumerCrashDrill(outputs, settings, Path(log_dir), progress, timings)
        drill.preflight()
        submitted, reconciliation, error = drill.run()
        logs = drill.fleet.log_tails()
    if reconciliation is not None and reconciliation.killed_runs:
        drill.check(
            "a kill caught jobs mid-run, and another consumer finished them",
            reconciliation.rerun_after_kill > 0,
            f"{reconciliation.killed_runs} job runs killed, {reconciliation.rerun_after_kill} of those jobs "
            "SUCCEEDED on another consumer",
        )
    else:
        drill.check("a kill caught jobs mid-run", False, "no consumer was killed while it ran a job")
    failures = []
    if error:
        failures.append(f"drill error: {error.splitlines()[0]}")
    if reconciliation is None:
        failures.append("the drill did not reach the reconciliation")
    elif not reconciliation.ok:
        failures.extend(f"reconcile: {problem}" for problem in reconciliation.problems[:10])
    failures.extend(f"check failed: {c.name}: {c.detail}" for c in drill.checks if not c.ok)
    return DrillResult(
        drill=NAME,
        summary=SUMMARY,
        verdict="FAIL" if failures else "PASS",
        run_id=drill.run_id,
        target=outputs.target,
        stage=outputs.stage,
        settings={**settings.__dict__, "consumers": CONSUMERS, "concurrency": CONCURRENCY, "crashes": CRASHES},
        timings=asdict(timings),
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 2),
        counts=counts(reconciliation, drill.fleet),
        checks=[c.__dict__ for c in drill.checks],
        before_fix=None,
        after_replay=None,
        replay_errors=[],
        error=error,
        timeline=drill.timeline.as_dict(),
        failures=failures,
        jobs=reconciliation.as_dict() if reconciliation else None,
        consumer_logs=logs,
    )
