"""What a drill works with: the stage, its timings, the fault switch, the sender and ledger, the
observer and timeline, and the drill's own checks. Every wait is bounded by the drill's deadline."""

from __future__ import annotations

import secrets as secrets_module
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chaos.observe import Observer, Timeline
from chaos.stage import StageTimings
from chaos.switch import FaultSwitch
from chaos.traffic import TENANT, Answer, Ledger, PlannedEvent, Sender
from handlers.faults import Fault
from stack.config import PROVIDERS, load_config
from stack.deploy.outputs import StackOutputs, provider_secret, tenant_token
from stack.errors import HookstackError

# delete-first breaks the jobs drills' consumers (chaos.delete_first_consumer) and the CDC trickle
# (chaos.partner_throttling); unkeyed-booking the orchestration stage's booking step
# (chaos.accounting_outage); the webhooks sabotages the webhooks stage.
WEBHOOKS_SABOTAGES = ("skip-write", "broken-replay")
SABOTAGES = (*WEBHOOKS_SABOTAGES, "delete-first", "unkeyed-booking")


@dataclass(frozen=True)
class DrillSettings:
    events: int = 24
    groups: int = 4
    seed: int = 7
    max_seconds: float = 240.0
    sabotage: str | None = None  # proves the reconciler catches a broken stage: see SABOTAGES

    def __post_init__(self) -> None:
        if not 4 <= self.events <= 500:
            raise HookstackError("--events must be between 4 and 500")
        if not 1 <= self.groups <= 8:
            raise HookstackError("groups must be between 1 and 8")
        if self.sabotage not in (None, *SABOTAGES):
            raise HookstackError(f"unknown sabotage {self.sabotage!r}: choose one of {', '.join(SABOTAGES)}")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DrillContext:
    outputs: StackOutputs
    timings: StageTimings
    settings: DrillSettings
    progress: Callable[[str], None] = lambda message: None
    run_id: str = field(default_factory=lambda: secrets_module.token_hex(3))
    checks: list[Check] = field(default_factory=list)
    replayed: int = 0
    replay_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        config = load_config(stage=self.outputs.stage)
        self.switch = FaultSwitch(self.outputs.client("ssm"), config.faults_parameter)
        self.secrets = {provider: provider_secret(self.outputs, provider) for provider in PROVIDERS}
        self.ledger = Ledger()
        self.observer = Observer(self.outputs, TENANT)
        self.timeline = Timeline(self.observer)
        self.sender = Sender(
            self.outputs.api_url,
            tenant_token(self.outputs, TENANT),
            config.token_placement,
            self.ledger,
            time_budget_s=max(10.0, self.settings.max_seconds / 2),
        )
        self.started = time.monotonic()
        self.deadline = self.started + self.settings.max_seconds
        # Faults and the applied log outlive a crashed drill by a few minutes at most.
        self.expires_at = int(time.time() + self.settings.max_seconds + 120)
        self._faults: dict[str, Fault] = {}

    @property
    def seed(self) -> str:
        """Traffic seed: the same drill settings give the same traffic shape, and the run id makes
        every delivery id (hence event id) new, so no drill meets another's idempotency records."""
        return f"{self.settings.seed}:{self.run_id}"

    # --- time ----------------------------------------------------------------------------------

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def pause(self, seconds: float, why: str = "") -> None:
        seconds = min(seconds, self.remaining())
        if seconds <= 0:
            return
        if why:
            self.progress(f"waiting {seconds:.1f}s: {why}")
        time.sleep(max(0.0, seconds))

    # --- faults --------------------------------------------------------------------------------

    def fault(self, id: str, function: str, point: str, action: str, **scope: Any) -> Fault:
        return Fault(
            id=f"{id}-{self.run_id}", function=function, point=point, action=action, expires_at=self.expires_at, **scope
        )

    def _write_faults(self) -> None:
        self.switch.write(self._faults.values(), applied_log_until=self.expires_at)

    def applied_log_on(self) -> None:
        """The worker logs every application per group while the drill runs (order checking)."""
        self._write_faults()
        self.timeline.mark("applied_log_on")
        self.pause(self.timings.propagation_s, "handlers pick up the applied log switch")

    def faults_on(self, *faults: Fault, wait: bool = True) -> None:
        for fault in faults:
            self._faults[fault.id] = fault
        self._write_faults()
        for fault in faults:
            self.timeline.mark("fault_on", fault.id, action=f"{fault.function}/{fault.point}/{fault.action}")
            self.progress(f"fault on: {fault.id} ({fault.function}/{fault.point}/{fault.action})")
        if wait:
            self.pause(self.timings.propagation_s, "handlers pick up the faults")

    def faults_off(self, *ids: str, wait: bool = True) -> None:
        """Turn off the given faults (all when none given); the applied log stays on."""
        off = [i for i in (ids or list(self._faults)) if i in self._faults]
        for fault_id in off:
            del self._faults[fault_id]
        self._write_faults()
        for fault_id in off:
            self.timeline.mark("fault_off", fault_id)
            self.progress(f"fault off: {fault_id}")
        if wait and off:
            self.pause(self.timings.propagation_s, "handlers drop the faults")

    # --- traffic -------------------------------------------------------------------------------

    def plan(self, events: Iterable[PlannedEvent]) -> list[PlannedEvent]:
        events = list(events)
        known = self.observer.statuses(event.event_id for event in events)
        if known:
            raise HookstackError(
                f"{len(known)} planned event ids already exist on the stage (e.g. {next(iter(known))}): "
                "the drill's traffic would not be new"
            )
        self.ledger.plan(events)
        self.timeline.track(event.event_id for event in events)
        return events

    def send(self, events: Iterable[PlannedEvent], label: str = "traffic") -> list[Answer]:
        events = list(events)
        self.timeline.mark("send", f"{label}: {len(events)} deliveries")
        answers = self.sender.send(events)
        accepted = sum(1 for a in answers if a.status == 202)
        self.progress(f"{label}: {len(answers)} sent, {accepted} acknowledged")
        return answers

    def settle(self, label: str, timeout_s: float | None = None) -> bool:
        """Wait until the queue is drained and the statuses stop changing (bounded)."""
        budget = min(timeout_s if timeout_s is not None else self.timings.retry_budget_s, self.remaining())
        self.progress(f"{label}: waiting for the queue to drain (at most {budget:.0f}s)")
        ids = [e.event_id for e in self.ledger.planned.values()]
        settled = self.observer.wait_settled(ids, budget)
        self.timeline.mark("settled" if settled else "settle_timeout", label)
        if not settled:
            self.check(f"{label}: settled in time", False, f"the queue did not drain within {budget:.0f}s")
        return settled

    def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> bool:
        """Poll ``condition`` every 0.5 s until it holds or ``timeout_s`` passes (bounded)."""
        self.progress(f"waiting at most {timeout_s:.0f}s until {what}")
        deadline = time.monotonic() + min(timeout_s, self.remaining())
        while time.monotonic() < deadline:
            if condition():
                self.timeline.mark("observed", what)
                return True
            time.sleep(0.5)
        self.timeline.mark("not_observed", what)
        return False

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, bool(ok), detail))
        self.progress(f"{'ok ' if ok else 'FAILED'} check: {name}: {detail}")

    def statuses(self, events: Iterable[PlannedEvent]) -> dict[str, dict[str, Any]]:
        return self.observer.statuses(e.event_id for e in events)
