"""The callback-outage drill, on a stage with the jobs and notifications patterns: the tenant's
callback endpoint (a partner simulator of the drill's own, the tenant subscribed to it with
``stack.ops.subscriptions.subscribe``) answers 503 to everything while jobs complete.

1. Outage on; the first half of the jobs submitted, consumer machines run them; each completion's
   callback fails attempt after attempt until, ``callback_max_attempts`` receives later, SQS moves
   it to the callback DLQ.
2. Once the first callback is in the DLQ, the other half of the jobs: their callbacks fail once or
   twice, and are still being retried when the outage ends.
3. Outage off. The retried callbacks are delivered by their next attempt; the drill waits until
   the callback queue is empty (every callback delivered or dead-lettered), then replays the
   callback DLQ (``stack.ops.callbacks.replay_callbacks``, as ``hookstack callbacks replay --all``).

Verdict (``chaos.callback_reconcile``), from the jobs table and the partner's own records: every
job that reached a final status has its completion delivered — verified and answered 2xx —
exactly once in effect under one ``webhook-id``, none missing, the callback queue and DLQ empty.
The drill's own checks that its fault had an effect: failed attempts were seen, and callbacks were
dead-lettered and replayed.

The ``broken-replay`` sabotage replays with ``chaos.runner.broken_replay``, which deletes each dead
letter and never sends it: the dead-lettered callbacks never arrive and the drill must FAIL on
"missing". The partner simulator listens on 127.0.0.1, where only the embedded target's callback
sender reaches it: the drill runs on the embedded target only.
"""

from __future__ import annotations

import functools
import json
import math
import secrets as secrets_module
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chaos.callback_reconcile import (
    CallbackObservation,
    CallbackReconciliation,
    callback_job_id,
    completion_id,
    reconcile_callbacks,
)
from chaos.consumer_crash import JobsObserver, JobsTimeline, PlannedJob, plan_jobs, submit_jobs
from chaos.context import Check, DrillSettings
from chaos.jobs_reconcile import SubmittedJob
from chaos.observe import queue_depths
from chaos.runner import DrillResult, broken_replay
from chaos.traffic import TENANT
from handlers.jobs.contract import JobStatus
from handlers.notifications.sender import backoff_seconds
from stack.clients.providers.standard_webhooks import new_secret
from stack.config import load_config
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError, UsageError
from stack.jobs_consumer.fleet import ConsumerFleet
from stack.ops.callbacks import list_dead_callbacks, replay_callbacks
from stack.ops.subscriptions import list_subscriptions, subscribe, unsubscribe
from stack.partner.client import PartnerClient
from stack.partner.process import running_partner
from stack.partner.records import CallbackRecords
from stack.patterns.base import output_name
from stack.patterns.notifications import SENDER_FUNCTION

NAME = "callback-outage"
SUMMARY = (
    "the tenant's callback endpoint is down (503) while jobs complete, until callbacks exhaust their "
    "attempts into the callback DLQ; after recovery, retries and `callbacks replay` deliver every "
    "completion's callback once in effect"
)
PATTERN = "notifications"
SABOTAGE = "broken-replay"
OUTAGE = "callbacks outage (503)"
CONSUMERS = 2
CONCURRENCY = 2  # jobs per consumer at once
WORK_SECONDS = 1.0  # each job's simulated work: the completions spread over a few seconds
POLL_S = 0.5
QUIET_POLLS = 10  # nothing queued or dead-lettered for this many polls: nothing more will arrive
JOBS_PHASE_S = 90.0  # at most, for a wave of jobs to reach its final status
SETTLE_MARGIN_S = 15.0  # beyond a computed wait: the sender's long poll, a cold start
MAX_REPLAY_ROUNDS = 3
MAX_DEAD_LISTED = 1000


@dataclass(frozen=True)
class CallbackTimings:
    """The deployed sender's retry schedule, which bounds the drill's waits."""

    backoff_base_s: int  # CALLBACK_BACKOFF_SECONDS
    max_attempts: int  # the callback queue's maxReceiveCount
    secret_cache_s: int  # SECRET_CACHE_SECONDS

    @property
    def backoffs_s(self) -> list[int]:
        """The hidden time after each failed attempt, by attempt (the sender's own schedule)."""
        return [backoff_seconds(n, self.backoff_base_s, now=0.0) for n in range(1, self.max_attempts + 1)]

    @property
    def exhaust_s(self) -> float:
        """From a callback's first failed attempt until SQS moves it to the DLQ."""
        return float(sum(self.backoffs_s))

    @property
    def longest_hide_s(self) -> float:
        return float(max(self.backoffs_s, default=0))

    def estimate_s(self, jobs: int) -> float:
        """Consumers starting, both waves' work, a callback's attempts, the drain, the replay."""
        waves = 2 * math.ceil(math.ceil(jobs / 2) / (CONSUMERS * CONCURRENCY)) * WORK_SECONDS
        return 20 + waves + self.exhaust_s + self.longest_hide_s + 2 * SETTLE_MARGIN_S

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "exhaust_s": self.exhaust_s, "longest_hide_s": self.longest_hide_s}


@dataclass(frozen=True)
class DeployedSender:
    timings: CallbackTimings
    parameter_path: str  # CALLBACK_PARAMETER_PATH: where it reads subscriptions


def read_sender(outputs: StackOutputs) -> DeployedSender:
    """The callback sender and queue as deployed (never assumed from a config)."""
    queue = outputs.resource("CallbackQueueUrl", PATTERN)
    attributes = outputs.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])[
        "Attributes"
    ]
    redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
    function = outputs.client("lambda").get_function_configuration(
        FunctionName=outputs.resource(output_name(SENDER_FUNCTION), PATTERN)
    )
    env = (function.get("Environment") or {}).get("Variables") or {}
    timings = CallbackTimings(
        backoff_base_s=int(env.get("CALLBACK_BACKOFF_SECONDS") or 5),
        max_attempts=int(redrive.get("maxReceiveCount", 0) or 0),
        secret_cache_s=int(env.get("SECRET_CACHE_SECONDS") or 0),
    )
    return DeployedSender(timings, str(env.get("CALLBACK_PARAMETER_PATH", "")))


def _final(item: dict[str, Any] | None) -> bool:
    return item is not None and JobStatus(item["status"]).final


@dataclass
class QuietPolls:
    """Consecutive polls that found nothing left to send."""

    count: int = 0

    def quiet_for(self, left: int) -> int:
        self.count = self.count + 1 if left == 0 else 0
        return self.count


class CallbackOutageDrill:
    """One run: subscribe, outage on, two waves of jobs, outage off, drain, replay, reconcile."""

    def __init__(
        self,
        outputs: StackOutputs,
        settings: DrillSettings,
        partner: PartnerClient,
        secret: str,
        log_dir: Path,
        progress: Callable[[str], None],
        sender: DeployedSender,
    ) -> None:
        self.outputs = outputs
        self.settings = settings
        self.partner = partner
        self.secret = secret
        self.progress = progress
        self.timings = sender.timings
        self.parameter_path = sender.parameter_path
        self.config = load_config(stage=outputs.stage)
        self.run_id = secrets_module.token_hex(3)
        self.jobs = JobsObserver(outputs)
        self.sqs = outputs.client("sqs")
        self.ssm = outputs.client("ssm")
        self.callback_queue = outputs.resource("CallbackQueueUrl", PATTERN)
        self.callback_dlq = outputs.resource("CallbackDlqUrl", PATTERN)
        self.timeline = JobsTimeline()
        self.checks: list[Check] = []
        self.fleet = ConsumerFleet(
            outputs.stage, outputs.target, log_dir, concurrency=CONCURRENCY, max_started=CONSUMERS + 4
        )
        self.submitted: list[SubmittedJob] = []
        self.job_ids: list[str] = []  # accepted so far: what the timeline samples
        self.dead_lettered: set[str] = set()
        self.replayed = 0
        self.replay_errors: list[str] = []
        self.deadline = time.monotonic() + settings.max_seconds

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, bool(ok), detail))
        self.progress(f"{'ok ' if ok else 'FAILED'} check: {name}: {detail}")

    def messages(self, queue_url: str) -> int:
        return sum(queue_depths(self.sqs, queue_url))

    def preflight(self) -> None:
        if self.parameter_path != self.config.callback_parameter_path:
            raise HookstackError(
                f"the callback sender of stage {self.outputs.stage} reads subscriptions under "
                f"{self.parameter_path!r}, the config says {self.config.callback_parameter_path!r}: redeploy it"
            )
        for what, url in (
            ("jobs queue", self.jobs.jobs_queue),
            ("jobs DLQ", self.jobs.jobs_dlq),
            ("callback queue", self.callback_queue),
            ("callback DLQ", self.callback_dlq),
        ):
            depth = self.messages(url)
            if depth:
                raise HookstackError(
                    f"the {what} of stage {self.outputs.stage} holds {depth} message(s) from before this drill: "
                    "drills need a quiet stage"
                )
        subscribed = [s for s in list_subscriptions(self.ssm, self.config) if s.tenant == TENANT]
        if subscribed:
            raise HookstackError(
                f"tenant {TENANT} of stage {self.outputs.stage} is subscribed to {subscribed[0].url}: the drill "
                f"subscribes it to a partner simulator of its own (`hookstack subscribe --tenant {TENANT} --remove` "
                "first, or run it on a fresh stage)"
            )
        self.partner.health()

    # --- what the stage and the partner hold -------------------------------------------------------

    def _poll(self) -> tuple[dict[str, dict[str, Any]], CallbackRecords]:
        """The drill's jobs and the partner's records, sampled into the timeline."""
        jobs = self.jobs.jobs(self.job_ids)
        records = self.partner.callbacks()
        expected = {completion_id(job_id, str(item["status"])) for job_id, item in jobs.items() if _final(item)}
        delivered = sum(1 for d in records.deliveries if d.webhook_id in expected and d.delivered)
        visible, in_flight, _ = queue_depths(self.sqs, self.callback_queue)
        dlq = self.messages(self.callback_dlq)
        self.timeline.samples.append(
            {
                "t": self.timeline.now(),
                "queue_visible": visible,
                "queue_in_flight": in_flight,
                "processed": delivered,
                "dead_lettered": self.replayed + dlq,
                "dlq": dlq,
            }
        )
        return jobs, records

    def _wait(self, what: str, done: Callable[[], bool], budget_s: float) -> bool:
        """Poll ``done`` until it holds, or ``budget_s`` (and the drill's deadline) is up."""
        deadline = time.monotonic() + min(budget_s, self.remaining())
        while True:
            if done():
                return True
            if time.monotonic() >= deadline:
                self.timeline.mark("settle_timeout", f"{what}: not within {budget_s:.0f}s")
                self.progress(f"{what}: not within {budget_s:.0f}s, going on")
                return False
            time.sleep(POLL_S)

    def _all_final(self, job_ids: list[str]) -> bool:
        jobs, _ = self._poll()
        return all(_final(jobs.get(job_id)) for job_id in job_ids)

    def _dead_lettered_any(self) -> bool:
        self._poll()
        return self.messages(self.callback_dlq) > 0

    def _each_failed_once(self, job_ids: list[str]) -> bool:
        """Every one of these jobs' callbacks has been answered by the outage at least once."""
        _, records = self._poll()
        failed = {callback_job_id(r) for r in records.callbacks if r.tenant == TENANT and not 200 <= r.status < 300}
        return set(job_ids) <= failed

    def _drained(self) -> bool:
        self._poll()
        return self.messages(self.callback_queue) == 0

    def _settled(self, quiet: QuietPolls) -> bool:
        """Every completion delivered with nothing left queued, or nothing queued or dead-lettered
        for ``QUIET_POLLS`` polls (what is missing then will never arrive)."""
        jobs, records = self._poll()
        left = self.messages(self.callback_queue) + self.messages(self.callback_dlq)
        expected = {completion_id(job_id, str(item["status"])) for job_id, item in jobs.items() if _final(item)}
        delivered = {d.webhook_id for d in records.deliveries if d.delivered}
        return (left == 0 and expected <= delivered) or quiet.quiet_for(left) >= QUIET_POLLS

    # --- phases ------------------------------------------------------------------------------------

    def _submit(self, planned: list[PlannedJob], wave: str) -> list[SubmittedJob]:
        submitted = submit_jobs(self.outputs, planned, self.deadline)
        self.submitted += submitted
        self.job_ids += [str(job.job_id) for job in submitted if job.accepted]
        accepted = sum(1 for job in submitted if job.accepted)
        self.timeline.mark("send", f"{wave}: {len(submitted)} jobs submitted, {accepted} accepted")
        self.progress(f"{wave}: {len(submitted)} jobs submitted, {accepted} accepted")
        return submitted

    def outage_phase(self) -> None:
        planned = plan_jobs(self.run_id, self.settings.events, WORK_SECONDS)
        half = (len(planned) + 1) // 2
        first = self._submit(planned[:half], "wave 1")
        for n in range(CONSUMERS):
            process = self.fleet.start()
            self.timeline.mark("consumer_start", f"pid {process.pid}: consumer {n + 1} of {CONSUMERS}")
        first_ids = [str(job.job_id) for job in first if job.accepted]
        self._wait("wave 1 jobs final", lambda: self._all_final(first_ids), JOBS_PHASE_S)
        self._wait(
            "a callback in the callback DLQ", self._dead_lettered_any, self.timings.exhaust_s + 2 * SETTLE_MARGIN_S
        )
        self.timeline.mark("dead_letter", f"callback DLQ depth {self.messages(self.callback_dlq)}")
        second = self._submit(planned[half:], "wave 2")
        second_ids = [str(job.job_id) for job in second if job.accepted]
        self._wait("wave 2 jobs final", lambda: self._all_final(second_ids), JOBS_PHASE_S)
        # Their callbacks meet the outage at least once, and are still being retried when it ends.
        self._wait("wave 2 callbacks failed once", lambda: self._each_failed_once(second_ids), 2 * SETTLE_MARGIN_S)

    def drain_phase(self) -> None:
        """After the outage: until every callback is delivered or dead-lettered (the queue empty)."""
        self._wait("callback queue drained", self._drained, self.timings.longest_hide_s + 2 * SETTLE_MARGIN_S)
        self.timeline.mark("drained", f"callback DLQ depth {self.messages(self.callback_dlq)}")

    def replay_phase(self) -> None:
        """Replay the callback DLQ until it is empty and every completion delivered (bounded)."""
        for round_number in range(1, MAX_REPLAY_ROUNDS + 1):
            depth = self.messages(self.callback_dlq)
            if depth == 0 or self.remaining() <= 0:
                break
            dead = list_dead_callbacks(self.sqs, self.callback_dlq, limit=min(MAX_DEAD_LISTED, depth + 10))
            self.dead_lettered.update(d.event_id for d in dead if d.event_id)
            self.timeline.mark("replay", f"round {round_number}: callback DLQ depth {depth}")
            self.progress(f"replay round {round_number}: {depth} dead callback(s)")
            if self.settings.sabotage == SABOTAGE:
                self.replayed += broken_replay(self.sqs, self.callback_dlq)
            else:
                result = replay_callbacks(self.sqs, self.callback_queue, self.callback_dlq, all=True)
                self.replayed += result.replayed
                self.replay_errors.extend(result.errors)
            self._wait(
                f"replay round {round_number} delivered",
                functools.partial(self._settled, QuietPolls()),
                self.timings.longest_hide_s + 2 * SETTLE_MARGIN_S,
            )

    def run(self) -> tuple[list[SubmittedJob], CallbackReconciliation | None, str | None]:
        error = None
        subscribed = False
        try:
            self.timeline.mark("drill_start", NAME)
            subscribe(self.ssm, self.config, TENANT, self.partner.callback_url(TENANT), self.secret)
            subscribed = True
            self.progress(f"tenant {TENANT} subscribed to {self.partner.callback_url(TENANT)}")
            self.partner.set_faults("callbacks", outage=True)
            self.timeline.mark("fault_on", OUTAGE)
            try:
                self.outage_phase()
            finally:
                self.partner.clear_faults("callbacks")
                self.timeline.mark("fault_off", OUTAGE)
                self.progress("callback endpoint recovered")
            self.fleet.stop_all()  # every job is final: the callbacks are the sender's
            self.drain_phase()
            self.replay_phase()
            self._wait("every callback delivered", functools.partial(self._settled, QuietPolls()), 2 * SETTLE_MARGIN_S)
        except HookstackError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the drill itself broke: FAIL with the cause, never a silent pass
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        finally:
            self.fleet.stop_all()
            if subscribed:
                unsubscribe(self.ssm, self.config, TENANT)
        submitted = self.submitted
        if not submitted:
            return submitted, None, error
        ids = [str(job.job_id) for job in submitted if job.accepted]
        observation = CallbackObservation(
            tenant=TENANT,
            records=self.partner.callbacks(),
            jobs=self.jobs.jobs(ids),
            queue_messages=self.messages(self.callback_queue),
            dlq_messages=self.messages(self.callback_dlq),
            dead_lettered=frozenset(self.dead_lettered),
            replayed=self.replayed,
        )
        return submitted, reconcile_callbacks(submitted, observation), error


def counts(reconciliation: CallbackReconciliation | None, fleet: ConsumerFleet) -> dict[str, Any]:
    """The drill's counts, under the names the other drills use where they mean the same."""
    r = reconciliation or CallbackReconciliation()
    return {
        "sent": r.submitted,
        "acked": r.accepted,
        "completed": r.completed,
        "unfinished": r.unfinished,
        "processed": r.delivered,
        "callback_attempts": r.attempts,
        "failed_attempts": r.failed_attempts,
        "dead_lettered": r.dead_lettered,
        "replayed": r.replayed,
        "delivered_by_retry": r.delivered_by_retry,
        "delivered_after_dead_letter": r.delivered_after_dead_letter,
        "duplicates_applied": r.other_webhook_ids,
        "redelivered_copies": r.redelivered_copies,
        "missing": r.missing,
        "dlq_depth_end": r.dlq_messages,
        "consumers_started": fleet.started,
    }


def run_callback_outage(
    outputs: StackOutputs,
    settings: DrillSettings | None = None,
    *,
    progress: Callable[[str], None] = lambda message: None,
) -> DrillResult:
    """The drill end to end; a HookstackError when it cannot start (not the embedded target, no
    jobs or notifications pattern, a retry schedule longer than the budget, a busy stage, a tenant
    already subscribed), else a PASS/FAIL result."""
    settings = settings or DrillSettings(events=8)
    if settings.sabotage not in (None, SABOTAGE):
        raise UsageError(f"{NAME} takes the {SABOTAGE} sabotage only, not {settings.sabotage}")
    if outputs.target != "embedded":
        raise HookstackError(
            f"{NAME} runs on the embedded target only: its partner simulator listens on 127.0.0.1, which the "
            f"callback sender on {outputs.target} does not reach"
        )
    sender = read_sender(outputs)
    timings = sender.timings
    if timings.secret_cache_s > 0:
        raise HookstackError(
            f"the callback sender of stage {outputs.stage} caches subscriptions for {timings.secret_cache_s}s: the "
            "drill's subscription to its own partner would not be seen at once (deploy with "
            "secret_cache_seconds = 0, or run it on a fresh stage)"
        )
    estimate = timings.estimate_s(settings.events)
    if estimate > settings.max_seconds:
        raise HookstackError(
            f"{NAME} needs about {estimate:.0f}s on stage {outputs.stage} (callback backoff base "
            f"{timings.backoff_base_s}s, {timings.max_attempts} attempts) and the budget is {settings.max_seconds:g}s: "
            "raise --max-seconds, or run it on a drill-sized stage (embedded: --fresh)"
        )
    started_at, started = time.time(), time.monotonic()
    secret = new_secret()
    with (
        tempfile.TemporaryDirectory(prefix="hookstack-consumers-") as log_dir,
        running_partner(callback_secrets={TENANT: secret}) as partner,
    ):
        progress(f"partner simulator (the tenant's callback endpoint) on {partner.url}")
        drill = CallbackOutageDrill(outputs, settings, partner.client, secret, Path(log_dir), progress, sender)
        drill.preflight()
        submitted, reconciliation, error = drill.run()
        logs = drill.fleet.log_tails()
    if reconciliation is not None:
        r = reconciliation
        met = sum(1 for c in r.completions if c.failed_attempts)
        drill.check(
            "the outage failed callback attempts",
            r.failed_attempts > 0,
            f"{r.failed_attempts} failed attempts over {met} of {r.completed} completions",
        )
        drill.check(
            "callbacks were dead-lettered and replayed",
            r.dead_lettered > 0 and r.replayed > 0,
            f"{r.dead_lettered} completions dead-lettered, {r.replayed} replayed",
        )
    failures = []
    if error:
        failures.append(f"drill error: {error.splitlines()[0]}")
    if reconciliation is None:
        failures.append("the drill did not reach the reconciliation")
    else:
        failures.extend(f"reconcile: {problem}" for problem in reconciliation.problems[:10])
    failures.extend(f"replay: {e}" for e in drill.replay_errors[:5])
    failures.extend(f"check failed: {c.name}: {c.detail}" for c in drill.checks if not c.ok)
    return DrillResult(
        drill=NAME,
        summary=SUMMARY,
        verdict="FAIL" if failures else "PASS",
        run_id=drill.run_id,
        target=outputs.target,
        stage=outputs.stage,
        settings={**settings.__dict__, "consumers": CONSUMERS, "concurrency": CONCURRENCY, "tenant": TENANT},
        timings=timings.as_dict(),
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 2),
        counts=counts(reconciliation, drill.fleet),
        checks=[c.__dict__ for c in drill.checks],
        before_fix=None,
        after_replay=None,
        replay_errors=drill.replay_errors[:20],
        error=error,
        timeline=drill.timeline.as_dict(),
        failures=failures,
        jobs=reconciliation.as_dict() if reconciliation else None,
        reconciliation_title="Callbacks reconciliation",
        consumer_logs=logs,
    )
