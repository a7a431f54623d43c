"""A deployed stage's cdc pattern as the drills and load runs drive it: the source table, the CDC
queue and its DLQ, the deployed trickle (and the schedule that fires it) and the partner that
trickle calls (``partner_url``, from the deployed function's environment).

``fire_trickle`` runs the deployed trickle once, now, as its schedule fires it (``hookstack
schedule fire`` does the same): a synchronous invoke with the rule's own event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from stack.config import HookstackConfig, load_config
from stack.deploy.outputs import StackOutputs
from stack.errors import HookstackError
from stack.ops.schedules import StageSchedule, fire, invoking_client, stage_schedules
from stack.partner.client import PartnerClient
from stack.patterns.base import output_name
from stack.patterns.cdc import TRICKLE_FUNCTION

PATTERN = "cdc"
DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


class CdcStageError(HookstackError):
    """The stage cannot be driven as a cdc stage (no partner_url, no schedule), or its trickle failed."""


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Visible + in flight + delayed messages."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(DEPTH_ATTRIBUTES))["Attributes"]
    return sum(int(attributes.get(name) or 0) for name in DEPTH_ATTRIBUTES)


class CdcStage:
    """The cdc pattern of a deployed stage; ``config`` is the one it was deployed with, when known
    (else the stage's ``hookstack.toml`` with the deployed patterns: its schedules' names)."""

    def __init__(
        self,
        outputs: StackOutputs,
        config: HookstackConfig | None = None,
        error: type[HookstackError] = CdcStageError,
    ) -> None:
        self.outputs = outputs
        self.table = outputs.resource("CdcSourceTable", PATTERN)
        self.queue_url = outputs.resource("CdcQueueUrl", PATTERN)
        self.dlq_url = outputs.resource("CdcDlqUrl", PATTERN)
        self.capture_failures_url = outputs.resources.get("CdcCaptureFailuresQueueUrl")
        self.function_name = outputs.resource(output_name(TRICKLE_FUNCTION), PATTERN)
        self.dynamodb, self.sqs = outputs.client("dynamodb"), outputs.client("sqs")
        function = outputs.client("lambda").get_function_configuration(FunctionName=self.function_name)
        self.function_env: dict[str, str] = dict((function.get("Environment") or {}).get("Variables") or {})
        partner_url = self.function_env.get("PARTNER_URL", "")
        if not partner_url:
            raise error(
                f"the cdc pattern of stage {outputs.stage} has no partner_url: set it "
                "(the partner simulator's URL, `hookstack partner`) and redeploy"
            )
        self.partner_url = partner_url
        self.partner = PartnerClient(partner_url)
        config = config or load_config(stage=outputs.stage, patterns=outputs.patterns)
        schedules = [s for s in stage_schedules(config) if s.function_name == self.function_name]
        if not schedules:
            raise error(f"stage {outputs.stage} has no schedule that fires {self.function_name}")
        # The deployed timeout, not the local config's: the invoke waits for as long as it may run.
        self.schedule: StageSchedule = dataclasses.replace(
            schedules[0], function_timeout_s=int(function.get("Timeout") or schedules[0].function_timeout_s)
        )
        self.schedules = schedules
        self._error = error

    @property
    def trickle_rate_per_s(self) -> float:
        return float(self.function_env.get("TRICKLE_RATE_PER_S") or 1.0)

    @property
    def trickle_max_messages(self) -> int:
        return int(self.function_env.get("TRICKLE_MAX_MESSAGES") or 1)

    def left_on_queues(self) -> int:
        """Messages on the CDC queue and its DLQ (visible, in flight, delayed)."""
        return queue_depth(self.sqs, self.queue_url) + queue_depth(self.sqs, self.dlq_url)

    def queued(self) -> int:
        """Messages on the CDC queue alone: what the trickle still has to send."""
        return queue_depth(self.sqs, self.queue_url)

    def deployed_trickle(self) -> Callable[[], Mapping[str, Any]]:
        """One run of the deployed trickle, fired as its schedule fires it (``schedule fire``);
        its run report, or the stage's error when the function failed."""
        events, lambda_client = self.outputs.client("events"), invoking_client(self.outputs.as_target(), self.schedule)

        def fire_once() -> Mapping[str, Any]:
            result = fire(events, lambda_client, self.schedule, self.outputs.region)
            if result.function_error or not isinstance(result.answer, Mapping):
                raise self._error(f"{self.schedule.function_name} failed ({result.function_error}): {result.answer}")
            return result.answer

        return fire_once
