"""The stage a drill runs against: its timings (read from the deployed resources, never assumed)
and, on the embedded target, a private drill-sized stack.

Why a drill-sized stack: a transient failure comes back only after the queue's visibility timeout,
which the stack sets to 6 × the worker timeout (180 s by default). A drill that waits for
redeliveries on the default stage takes many minutes. The drill stage keeps every semantic of the
default one (same template, maxReceiveCount 3, FIFO, partial batches) and only shortens the worker
timeout to 3 s, so visibility is 18 s and a transient failure is retried within seconds.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from stack.config import HookstackConfig, load_config
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError
from stack.home import use_home

DRILL_STAGE = "chaos"
# 3 s: long enough for a cold start on a busy 2-core machine, short enough that visibility (6×)
# is 18 s. maxReceiveCount stays at the default 3: the drills test the real retry budget.
DRILL_OVERRIDES: dict[str, int] = {"worker_timeout_seconds": 3, "faults_cache_seconds": 2}
# The jobs drills' stage: a killed consumer's job shows again after the jobs queue's visibility
# timeout (300 s by default); 30 s, the least the config takes, keeps a drill within minutes. The
# consumers' heartbeat extends a running job's visibility, so a job longer than 30 s is safe.
JOBS_DRILL_STAGE = "chaosjobs"
JOBS_DRILL_VISIBILITY_TIMEOUT_S = 30
JOBS_DRILL_OVERRIDES: dict[str, object] = {
    "patterns": ["jobs"],
    "jobs_visibility_timeout_seconds": JOBS_DRILL_VISIBILITY_TIMEOUT_S,
}

# The accounting-outage drill's stage: the orchestration pattern, its steps calling the partner
# simulator at ``partner_url`` (the drill's fault is the partner's); the sabotaged variant deploys
# the unkeyed booking step (``orchestration_sabotage``).
ORCHESTRATION_DRILL_STAGE = "chaosinv"
ORCHESTRATION_DRILL_OVERRIDES: dict[str, object] = {"patterns": ["orchestration"]}

# The partner-throttling drill's stage: the cdc pattern, its trickle calling the partner simulator
# at ``partner_url``, paced within that partner's own limit (as a stage is configured) so that the
# drill's fault, a much lower limit for a while, is what makes the partner refuse. 100 messages a
# run keep the trickle's timeout (and the CDC queue's visibility) under a minute.
CDC_DRILL_STAGE = "chaoscdc"
CDC_DRILL_PARTNER_RATE_PER_S = 10.0
CDC_DRILL_PARTNER_BURST = 1
CDC_DRILL_TRICKLE_RATE_PER_S = 8.0
CDC_DRILL_OVERRIDES: dict[str, object] = {
    "patterns": ["cdc"],
    "cdc_trickle_rate_per_s": CDC_DRILL_TRICKLE_RATE_PER_S,
    "cdc_trickle_max_messages": 100,
}

# The callback-outage drill's stage: the jobs pattern as the jobs drills deploy it, with the
# notifications pattern. A 1 s backoff base and 3 attempts put a callback that fails from its first
# attempt into the callback DLQ about 31 s later (1 + 6 + 24 s of backoff), within the drill's
# outage; a subscription cache of 0, as each run subscribes the tenant to a partner of its own.
CALLBACK_DRILL_STAGE = "chaosnotify"
CALLBACK_DRILL_BACKOFF_S = 1
CALLBACK_DRILL_MAX_ATTEMPTS = 3
CALLBACK_DRILL_OVERRIDES: dict[str, object] = {
    **JOBS_DRILL_OVERRIDES,
    "patterns": ["jobs", "notifications"],
    "callback_backoff_seconds": CALLBACK_DRILL_BACKOFF_S,
    "callback_max_attempts": CALLBACK_DRILL_MAX_ATTEMPTS,
    "secret_cache_seconds": 0,
}


@dataclass(frozen=True)
class StageTimings:
    """What bounds a drill's waits on this stage."""

    worker_timeout_s: float
    visibility_timeout_s: float
    max_receive_count: int
    faults_cache_s: float

    @property
    def propagation_s(self) -> float:
        """After a switch, every warm container has re-read the parameter within this."""
        return self.faults_cache_s + 1.0

    @property
    def retry_budget_s(self) -> float:
        """From a first failure until a FIFO group's messages are all in the DLQ, at most. One cycle
        more than maxReceiveCount: the group's head starts counting receives one batch before the
        messages queued behind it, so the rest of the group moves one visibility timeout later."""
        return (self.max_receive_count + 1) * (self.visibility_timeout_s + self.worker_timeout_s) + 15.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def read_timings(outputs: StackOutputs) -> StageTimings:
    sqs = outputs.client("sqs")
    attributes = sqs.get_queue_attributes(
        QueueUrl=outputs.queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
    )["Attributes"]
    redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
    function = outputs.client("lambda").get_function_configuration(FunctionName=outputs.function_names["worker"])
    env = (function.get("Environment") or {}).get("Variables") or {}
    if not env.get("FAULTS_PARAMETER"):
        raise HookstackError(
            f"the worker of stage {outputs.stage} has no FAULTS_PARAMETER: redeploy it with this "
            "version of hookstack before running drills"
        )
    return StageTimings(
        worker_timeout_s=float(function.get("Timeout", 3)),
        visibility_timeout_s=float(attributes.get("VisibilityTimeout", 30)),
        max_receive_count=int(redrive.get("maxReceiveCount", 0) or 0),
        faults_cache_s=float(env.get("FAULTS_CACHE_SECONDS") or 2),
    )


def drill_config(stage: str = DRILL_STAGE, **overrides: object) -> HookstackConfig:
    return load_config(None, stage=stage, **{**DRILL_OVERRIDES, **overrides})


def jobs_drill_config(stage: str = JOBS_DRILL_STAGE, **overrides: object) -> HookstackConfig:
    return drill_config(stage, **{**JOBS_DRILL_OVERRIDES, **overrides})


def orchestration_drill_config(
    partner_url: str, stage: str = ORCHESTRATION_DRILL_STAGE, *, unkeyed_booking: bool = False, **overrides: object
) -> HookstackConfig:
    sabotage = {"orchestration_sabotage": "unkeyed-booking"} if unkeyed_booking else {}
    return drill_config(stage, **{**ORCHESTRATION_DRILL_OVERRIDES, "partner_url": partner_url, **sabotage, **overrides})


def callback_drill_config(stage: str = CALLBACK_DRILL_STAGE, **overrides: object) -> HookstackConfig:
    return drill_config(stage, **{**CALLBACK_DRILL_OVERRIDES, **overrides})


def cdc_drill_config(partner_url: str, stage: str = CDC_DRILL_STAGE, **overrides: object) -> HookstackConfig:
    return drill_config(stage, **{**CDC_DRILL_OVERRIDES, "partner_url": partner_url, **overrides})


@contextlib.contextmanager
def fresh_embedded_stack(
    config: HookstackConfig | None = None, *, progress: Callable[[str], None] = lambda _: None
) -> Iterator[StackOutputs]:
    """A private embedded stack (own HOOKSTACK_HOME, drill-sized config), torn down afterwards."""
    from stack.embedded.lifecycle import down, up

    config = config or drill_config()
    with tempfile.TemporaryDirectory(prefix="hookstack-chaos-") as home, use_home(Path(home) / "home"):
        try:
            result = up(config, progress=progress)
            progress(
                f"drill stack {config.stage} up in {result.total_s:.1f}s "
                f"(worker timeout {config.worker_timeout_seconds}s)"
            )
            yield result.outputs
        finally:
            down(config)
