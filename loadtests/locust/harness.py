"""Wires hookstack's measurements into Locust: options, shape, pacing, events, reports.

One ``Harness`` per Locust process. On the master (or a single process) it installs the shape
picked by ``--scenario``, merges every process's reports, writes progress lines and, when the
run ends, the raw result file. On every process that runs users it owns this process's share of
the arrival schedule and its measurements.

Distributed runs: when the test starts the master sends each worker a plan (its index, the
number of workers, the load's start time as an epoch, the run's parameters); worker ``i`` of
``n`` takes arrivals ``i, i+n, i+2n, …`` of the one schedule. Machines' clocks must agree to a
few milliseconds (NTP), as for any distributed latency measurement.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from pathlib import Path
from typing import Any, ClassVar

import gevent
import psutil
from locust import FastHttpUser, events
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from loadtests.locust import options as load_options
from loadtests.locust.shapes import ArrivalShape, create_shape
from loadtests.model.params import LoadParams
from loadtests.model.schedule import ArrivalSchedule, closed_interval, offered_timeline, planned_arrivals
from loadtests.model.traffic import BodySizes, ProviderTraffic, RetryMemory
from loadtests.report import latency
from loadtests.report.aggregate import RunAggregate
from loadtests.report.measurements import ACCEPTABLE_REFUSALS, Attempt, ProcessMeasurements, is_ack
from stack.clients.providers import ALL_TOPICS, Delivery
from stack.clients.token_placement import TokenPlacement

logger = logging.getLogger("hookstack.load")

PLAN_MESSAGE = "hookstack_plan"
REPORT_KEY = "hookstack"
TICK_S = 1.0
# A user sleeping until one of the last slots may wake a little late: not done before this.
END_MARGIN_S = 0.5
KNOWN_TOPICS = frozenset(ALL_TOPICS)  # (provider, topic) pairs the worker models


class Harness:
    def __init__(self) -> None:
        self.environment: Any = None
        self.params: LoadParams | None = None
        self.shape: ArrivalShape | None = None
        self.schedule: ArrivalSchedule | None = None
        self.origin = 0.0  # perf_counter() at load time 0
        self.origin_epoch = 0.0
        self.node_index = 0
        self.nodes = 1
        self.measurements = ProcessMeasurements("local")
        self.aggregate: RunAggregate | None = None
        self.retries = RetryMemory()
        self.sizes = BodySizes(load_options.DEFAULT_MAX_BODY_BYTES)
        self._shape_for_pacing: ArrivalShape | None = None
        self._generates = True
        self._plan: dict[str, Any] | None = None
        self._user_serial = 0
        self._started_epoch = 0.0
        self._tick_greenlet: Any = None

    # --- Locust events -------------------------------------------------------------------------

    def install(self) -> None:
        events.init_command_line_parser.add_listener(load_options.register)
        events.init.add_listener(self._on_init)
        events.test_start.add_listener(self._on_test_start)
        events.test_stop.add_listener(self._on_test_stop)
        events.request.add_listener(self._on_request)
        events.report_to_master.add_listener(self._on_report_to_master)
        events.worker_report.add_listener(self._on_worker_report)
        events.quitting.add_listener(self._on_quitting)

    @property
    def runner(self) -> Any:
        return self.environment.runner

    @property
    def is_worker(self) -> bool:
        return isinstance(self.runner, WorkerRunner)

    @property
    def is_master(self) -> bool:
        return isinstance(self.runner, MasterRunner)

    @property
    def options(self) -> Any:
        return self.environment.parsed_options

    def _on_init(self, environment: Any, **_: Any) -> None:
        self.environment = environment
        self.sizes = BodySizes(self.options.max_body_bytes)
        if self.is_worker:
            self.measurements = ProcessMeasurements(self.runner.client_id)
            self.runner.register_message(PLAN_MESSAGE, self._on_plan)
        else:
            self.measurements = ProcessMeasurements("master" if self.is_master else "local")
            self._install_shape(load_options.params_from(self.options))
            if self.options.headless:
                self._check_credentials()
        gevent.spawn(self._sample_cpu)

    def _install_shape(self, params: LoadParams) -> None:
        shape = create_shape(params)
        shape.runner = self.runner
        shape.finished = self._finished
        self.environment.shape_class = shape
        self.shape, self.params = shape, params

    def _check_credentials(self) -> None:
        missing = [
            name
            for name in (*self._token_option(), *(load_options.secret_option(p) for p in self._providers()))
            if not getattr(self.options, name, "")
        ]
        if missing:
            raise ValueError(
                "missing "
                + ", ".join("--" + m.replace("_", "-") for m in missing)
                + " (or their HOOKSTACK_* environment variables)"
            )

    def _token_option(self) -> tuple[str, ...]:
        """The token is needed by users that call the stage's API (not by table writers)."""
        needed = any(getattr(user, "sends_to_api", True) for user in self.environment.user_classes)
        return ("token",) if needed else ()

    def _providers(self) -> list[str]:
        return sorted({user.provider for user in self.environment.user_classes if hasattr(user, "provider")})

    def _on_test_start(self, environment: Any, **_: Any) -> None:
        self._started_epoch = time.time()
        if self.is_worker:
            plan = self._plan or self._fallback_plan()
            self._plan = None
            self._begin(plan)
            return
        params = load_options.params_from(self.options)  # the web UI may have edited them
        if params != self.params:
            self._install_shape(params)
        assert self.shape is not None
        self.aggregate = RunAggregate()
        origin_epoch = time.time() + self.shape.lead
        plan = {"origin_epoch": origin_epoch, "params": dataclasses.asdict(params)}
        if self.is_master:
            workers = sorted(c.id for c in self.runner.clients.all if c.state != "missing")
            self.nodes = len(workers)
            for index, client_id in enumerate(workers):
                self.runner.send_message(PLAN_MESSAGE, {**plan, "index": index, "count": len(workers)}, client_id)
            self._begin({**plan, "index": 0, "count": 1}, generates=False)
        else:
            self.nodes = 1
            self._begin({**plan, "index": 0, "count": 1})
        if self._tick_greenlet is not None:
            self._tick_greenlet.kill(block=False)
        self._tick_greenlet = gevent.spawn(self._tick_loop, self.aggregate)

    def _on_plan(self, environment: Any, msg: Any, **_: Any) -> None:
        self._plan = msg.data

    def _fallback_plan(self) -> dict[str, Any]:
        logger.error("no plan from the master before the test started; guessing this worker's share")
        params = load_options.params_from(self.options)
        return {
            "origin_epoch": time.time() + create_shape(params).lead,
            "params": dataclasses.asdict(params),
            "index": max(0, self.runner.worker_index),
            "count": max(1, self.options.expect_workers),
        }

    def _begin(self, plan: dict[str, Any], *, generates: bool = True) -> None:
        params = LoadParams(**plan["params"])
        shape = create_shape(params)
        if not self.is_worker:
            shape = self.shape or shape
        # ``nodes`` stays what the master counted: the processes that send (workers, or this one).
        self.params, self.node_index = params, plan["index"]
        self.origin_epoch = plan["origin_epoch"]
        self.origin = time.perf_counter() + (self.origin_epoch - time.time())
        self.schedule = (
            ArrivalSchedule(shape.rate_at, shape.duration, stride=plan["count"], offset=plan["index"])
            if params.mode == "open" and generates
            else None
        )
        self.measurements.sent_total = 0
        self._shape_for_pacing = shape
        self.measurements.exhausted = not generates
        self._generates = generates
        self._user_serial = 0
        self.retries = RetryMemory()

    # --- pacing (called by users) ---------------------------------------------------------------

    def load_time(self) -> float:
        return time.perf_counter() - self.origin

    def pace(self) -> Attempt:
        """Wait for this user's next start. Open model: claim the next arrival of the schedule and
        sleep until its intended time. Raises StopUser once the schedule is over."""
        shape = self._shape_for_pacing
        assert shape is not None and self.params is not None, "pace() before the test started"
        if self.params.mode == "open":
            if self.schedule is None:
                raise StopUser()
            claimed = time.perf_counter()
            offset = self.schedule.next_offset()
            if offset is None:
                raise StopUser()
            intended = self.origin + offset
            delay = intended - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
            return Attempt(intended=intended, claimed=claimed)
        t = self.load_time()
        if t < 0:
            gevent.sleep(-t)
            t = 0.0
        if t >= shape.duration:
            raise StopUser()
        return Attempt(expected_interval=closed_interval(shape.users_at(t), shape.rate_at(t)))

    def pause_after(self, started: float | None) -> float:
        """Closed model: the rest of this user's pacing interval after a start at ``started``."""
        if self.params is None or self.params.mode == "open" or started is None:
            return 0.0
        t = max(0.0, self.load_time())
        shape = self._shape_for_pacing
        assert shape is not None
        interval = closed_interval(shape.users_at(t), shape.rate_at(t))
        if interval is None:
            return TICK_S
        return max(0.0, interval - (time.perf_counter() - started))

    def retry_share(self) -> float:
        shape = self._shape_for_pacing
        return shape.retry_share_at(self.load_time()) if shape is not None else 0.0

    def user_rng(self) -> random.Random:
        self._user_serial += 1
        seed = self.params.seed if self.params else None
        if seed is None:
            return random.Random()
        return random.Random(f"{seed}:{self.node_index}:{self._user_serial}")

    def secret(self, provider: str) -> str:
        return getattr(self.options, load_options.secret_option(provider), "")

    def token_placement(self) -> TokenPlacement:
        return load_options.token_placement_from(self.options)

    def token(self) -> str:
        return self.options.token

    # --- recording --------------------------------------------------------------------------------

    def _on_request(
        self,
        context: dict[str, Any] | None = None,
        response: Any = None,
        response_time: float = 0.0,
        exception: BaseException | None = None,
        name: str = "",
        **_: Any,
    ) -> None:
        attempt = (context or {}).get("hookstack_attempt")
        if attempt is None:
            return
        status = int(getattr(response, "status_code", 0) or 0)
        event_id = _event_id(response) if is_ack(status) else None
        error = type(getattr(response, "error", None) or exception).__name__ if status == 0 else None
        self.measurements.request_finished(
            attempt, status=status, service_s=response_time / 1000, event_id=event_id, error=error, key=name or None
        )

    def _refresh_live(self) -> None:
        if not self._generates:
            self.measurements.exhausted = True
        elif self.params is not None and self.load_time() >= self.params.duration + END_MARGIN_S:
            self.measurements.exhausted = self.schedule is None or self.schedule.peek() is None

    def _report(self) -> dict[str, Any]:
        self._refresh_live()
        report = self.measurements.take_report()
        report["generates"] = self._generates
        return report

    def _count_unsent(self) -> None:
        """Arrivals of this process's schedule never sent: every user was stuck until the end."""
        if self.schedule is None:
            return
        while self.schedule.next_offset() is not None:
            pass
        # Claimed by a user that was stopped before sending it, or never claimed at all.
        unsent = self.schedule.claimed - self.measurements.sent_total
        self.measurements.counts["unsent"] += max(0, unsent)
        self.schedule = None  # counted once

    def _on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[REPORT_KEY] = self._report()

    def _on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        if self.aggregate is not None and REPORT_KEY in data:
            self.aggregate.add(data[REPORT_KEY])

    def _finished(self) -> bool:
        return self.aggregate is not None and self.aggregate.drained(self.nodes)

    def _sample_cpu(self) -> None:
        process = psutil.Process()
        process.cpu_percent(None)
        while True:
            gevent.sleep(TICK_S)
            self.measurements.sample_cpu(process.cpu_percent(None))

    def _tick_loop(self, aggregate: RunAggregate) -> None:
        """Master / single process: merge own report, write a progress line, once a second."""
        while True:
            gevent.sleep(TICK_S)
            if self.aggregate is not aggregate:
                return  # the run ended, or a new one started from the web UI
            self.aggregate.add(self._report())
            self.aggregate.seal_old()
            self._write_progress()

    def _write_progress(self) -> None:
        path = self.options.progress_file
        if not path or self.aggregate is None or self.shape is None:
            return
        t = self.load_time()
        line = {
            "time": time.time(),
            "load_time": round(t, 3),
            "duration": self.shape.duration,
            "offered_rps": round(self.shape.rate_at(min(max(t, 0.0), self.shape.duration)), 3)
            if 0 <= t < self.shape.duration
            else 0.0,
            "users": self.runner.user_count,
            **self.aggregate.progress(),
        }
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def _on_test_stop(self, environment: Any, **_: Any) -> None:
        self._count_unsent()
        if self.is_worker or self.aggregate is None:
            return
        self.aggregate.add(self._report())
        summary = latency.summarize(self.aggregate.latency, exact_max_s=self.aggregate.latency_max_s)
        logger.info("hookstack exact ack latency: %s", {k: v for k, v in summary.items() if k.endswith("_ms")})

    def _on_quitting(self, environment: Any, **_: Any) -> None:
        if self.is_worker or self.aggregate is None or self.shape is None:
            return
        self.aggregate.add(self._report())
        path = self.options.results_file
        if path:
            result = self.aggregate.result(self._meta())
            Path(path).write_text(json.dumps(result))
        self.aggregate = None

    def _meta(self) -> dict[str, Any]:
        assert self.shape is not None and self.params is not None
        shape = self.shape
        return {
            "scenario": self.params.scenario,
            "mode": self.params.mode,
            "params": dataclasses.asdict(self.params),
            "host": self.environment.host,
            "processes": self.nodes,
            "user_classes": [user.__name__ for user in self.environment.user_classes],
            "users": shape.max_users(),
            "lead_s": shape.lead,
            "duration_s": shape.duration,
            "origin_epoch": self.origin_epoch,
            "started_epoch": self._started_epoch,
            "ended_epoch": time.time(),
            "offered_requests": planned_arrivals(shape.rate_at, shape.duration),
            "offered_timeline": offered_timeline(shape.rate_at, shape.duration),
            "peak_rate": shape.peak_rate(),
        }


def _event_id(response: Any) -> str | None:
    try:
        value = json.loads(response.content or b"{}").get("id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


HARNESS = Harness()


def paced(user: WebhookUser) -> float:
    """Locust ``wait_time``: nothing in the open model (the schedule paces); closed model, the rest
    of the user's interval, like ``constant_throughput`` but with the rate the shape gives now."""
    return HARNESS.pause_after(user.last_start)


class WebhookUser(FastHttpUser):
    """Base of the provider users: pace on the schedule, sign, send, let the harness record."""

    abstract = True
    provider: ClassVar[str] = ""
    network_timeout = 30.0  # API Gateway's integration timeout is 29 s
    connection_timeout = 5.0
    wait_time = paced

    def on_start(self) -> None:
        self.rng = HARNESS.user_rng()
        groups = HARNESS.params.groups if HARNESS.params else None
        self.traffic = ProviderTraffic(HARNESS.secret(self.provider), self.rng, HARNESS.sizes, groups=groups)
        self.token_placement = HARNESS.token_placement()
        self.last_start: float | None = None

    def send(self, topic: str) -> None:
        """Deliver one ``topic`` of this user's provider (see ``deliver``)."""
        self.deliver(self.traffic.delivery(self.provider, topic))

    def deliver(self, delivery: Delivery) -> None:
        """Send ``delivery`` at this user's next slot, or (retry storm) an earlier one again."""
        attempt = HARNESS.pace()
        delivery, attempt.retry = HARNESS.retries.maybe_retry(delivery, HARNESS.retry_share(), self.rng)
        if not attempt.retry:
            HARNESS.retries.remember(delivery)
        attempt.may_be_refused = (delivery.provider, delivery.topic) not in KNOWN_TOPICS
        token = HARNESS.token()
        headers = {**delivery.headers, **self.token_placement.headers(token)}
        attempt.sent = self.last_start = time.perf_counter()
        HARNESS.measurements.request_started(attempt)
        # ``name`` (what Locust's statistics show) is never the path, which may hold the token.
        with self.client.post(
            self.token_placement.path(delivery.path, token),
            data=delivery.body,  # type: ignore[arg-type]  # Locust documents bytes as a body; its annotation omits them
            headers=headers,
            catch_response=True,
            name=f"{delivery.provider} {delivery.topic}",
            context={"hookstack_attempt": attempt},
        ) as response:
            if is_ack(response.status_code):
                response.success()
            elif attempt.may_be_refused and response.status_code in ACCEPTABLE_REFUSALS:
                response.success()  # a clean refusal of a topic nobody handles is a right answer
            elif response.status_code:
                response.failure(f"HTTP {response.status_code}")


class SubmittingUser(FastHttpUser):
    """Base of the users that submit JSON documents to the API (partner jobs, invoices): paced on
    the schedule, recorded by the harness; any answer but an ack is a failure (every submission is
    valid and has its own reference)."""

    abstract = True
    network_timeout = 30.0  # API Gateway's integration timeout is 29 s
    connection_timeout = 5.0
    wait_time = paced

    def on_start(self) -> None:
        self.token_placement = HARNESS.token_placement()
        self.last_start: float | None = None

    def post_submission(self, path: str, body: bytes, name: str) -> None:
        """POST one JSON document at this user's next slot, named ``name`` in the reports."""
        attempt = HARNESS.pace()
        token = HARNESS.token()
        headers = {"Content-Type": "application/json", **self.token_placement.headers(token)}
        attempt.sent = self.last_start = time.perf_counter()
        HARNESS.measurements.request_started(attempt)
        with self.client.post(
            self.token_placement.path(path, token),
            data=body,  # type: ignore[arg-type]  # Locust documents bytes as a body; its annotation omits them
            headers=headers,
            catch_response=True,
            name=name,
            context={"hookstack_attempt": attempt},
        ) as response:
            if is_ack(response.status_code):
                response.success()
            elif response.status_code:
                response.failure(f"HTTP {response.status_code}")
