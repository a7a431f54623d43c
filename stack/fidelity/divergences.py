"""The embedded target's known remaining divergences from AWS, and why each is not fixed.

One catalogue, in code, so `hookstack fidelity` prints it with the scores, load and chaos
reports can name what bears on them (``divergences_bearing_on``), and docs/emulator-fidelity.md
lists the same entries (a unit test compares the two).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack.fidelity.behaviour import AREAS

# Beyond the suite's areas, a divergence can bear on how functions run and what timings mean.
DIVERGENCE_AREAS = (*AREAS, "lambda-runtime", "performance")


@dataclass(frozen=True)
class Divergence:
    id: str
    areas: frozenset[str]
    differs: str  # what the embedded target does, against what AWS does
    not_fixed: str  # why it stays
    behaviour_id: str | None = None  # the suite's behaviour that shows it, if one does

    def __post_init__(self) -> None:
        unknown = self.areas - set(DIVERGENCE_AREAS)
        if unknown:
            raise ValueError(f"divergence {self.id}: unknown areas {sorted(unknown)}")


def _d(id: str, areas: set[str], differs: str, not_fixed: str, behaviour_id: str | None = None) -> Divergence:
    return Divergence(id, frozenset(areas), differs, not_fixed, behaviour_id)


CATALOGUE: tuple[Divergence, ...] = (
    _d(
        "sqs-no-dead-letter-source-listing",
        {"sqs-fifo"},
        "ListDeadLetterSourceQueues and the message move tasks (StartMessageMoveTask, ...) answer InvalidAction.",
        "hookstack's DLQ replay uses receive, send and delete, which work on every target; nothing here lists sources.",
        "fifo-dlq-lists-source-queues",
    ),
    _d(
        "sqs-attribute-changes-immediate",
        {"sqs-fifo", "event-source-mapping"},
        "SetQueueAttributes (DeduplicationScope, VisibilityTimeout, RedrivePolicy, ...) applies at once; "
        "AWS documents up to 60 s to propagate (15 min for MessageRetentionPeriod).",
        'AWS gives no fixed delay ("up to"): any emulated delay would slow tests and still not match; '
        "change attributes by redeploying, not while traffic flows.",
    ),
    _d(
        "sqs-counters-exact",
        {"sqs-fifo", "event-source-mapping", "performance"},
        "ApproximateNumberOf* queue attributes are exact and immediate; on AWS they are approximate and lag.",
        "Exact counts are what drain accounting wants locally; on AWS read them as estimates.",
    ),
    _d(
        "sqs-fifo-throughput-unlimited",
        {"sqs-fifo", "api-limits", "performance"},
        "No FIFO throughput quota (300 API calls/s per action, or the high-throughput per-group limits): "
        "only the emulator's one core bounds a send rate.",
        "The quotas are per account and region and change over time; load tests on AWS measure them.",
    ),
    _d(
        "sqs-emulator-poller-deletes-late",
        {"event-source-mapping"},
        "MiniStack's own event source mapping poller (only with --event-plane ministack) deletes with "
        "receipt handles past their visibility timeout, and runs one FIFO batch at a time.",
        "hookstack's event plane serves the stack's mappings on the embedded target; the emulator's poller is "
        "kept only to compare against.",
    ),
    _d(
        "lambda-errors-non-python",
        {"lambda-errors"},
        "Functions of other runtimes run by the emulator's executor still report errorType Runtime.HandlerError.",
        "Every function of this stack is Python; hookstack's own environments name errors as Lambda does.",
    ),
    _d(
        "lambda-host-interpreter",
        {"lambda-runtime"},
        "Functions run on the host's Python, not the declared runtime, and can import anything installed beside "
        "the emulator: a dependency missing from the zip goes unnoticed.",
        "Running each runtime needs containers, which the embedded target does without; build the AWS artifact "
        "for the declared runtime and run the LocalStack or AWS target before release.",
    ),
    _d(
        "lambda-host-environment",
        {"lambda-runtime"},
        "Functions run by the emulator's executor see the emulator's whole process environment.",
        "Handlers read only their own variables (boto3 default chain, AWS_ENDPOINT_URL), so nothing depends on it.",
    ),
    _d(
        "lambda-emulator-cold-after-error",
        {"lambda-runtime", "performance"},
        "In the emulator's executor a handler exception ends its worker: the next call is a cold start; a "
        "handler that writes nothing waits a fixed ~50 ms.",
        "On the embedded target hookstack's environments serve the API and the mappings; only the emulator's "
        "own paths (--gateway/--event-plane ministack) pay it.",
    ),
    _d(
        "apigw-live-configuration",
        {"authorizer"},
        "The emulator's own API path (--gateway ministack) serves the live API configuration, not the deployed "
        "snapshot: authorizer changes apply without a redeployment and do not clear the authorizer cache.",
        "hookstack's gateway is the default embedded API path; the emulator's is kept to compare against.",
    ),
    _d(
        "emulator-capacity",
        {"performance", "event-source-mapping", "api-limits"},
        "One emulator process on one core carries every storage call: ~140-157 events/s end to end on a "
        "2-core machine; a load above that backlogs where AWS would not.",
        "It is the emulator's design; load figures from the embedded target describe this host, not AWS.",
    ),
)


def divergences_bearing_on(areas: set[str]) -> list[Divergence]:
    """The catalogued divergences that bear on any of ``areas``, in catalogue order."""
    unknown = set(areas) - set(DIVERGENCE_AREAS)
    if unknown:
        raise ValueError(f"unknown areas {sorted(unknown)}; known: {', '.join(DIVERGENCE_AREAS)}")
    return [d for d in CATALOGUE if d.areas & set(areas)]


def fidelity_report(target: str, areas: set[str]) -> dict[str, Any]:
    """What a load or drill report on ``target`` says of the catalogued divergences bearing on what it
    measured (``areas``): the ``fidelity`` key of summary.json and of the drill report."""
    if target != "embedded":
        note = (
            "measured on AWS itself: no emulator divergence applies"
            if target == "aws"
            else f"the {target} target's divergences from AWS are not catalogued here"
        )
        return {"target": target, "areas": sorted(areas), "note": note, "divergences": []}
    return {
        "target": target,
        "areas": sorted(areas),
        "note": "the embedded emulator differs from AWS in these ways that bear on this report "
        "(`hookstack fidelity` measures the rest)",
        "divergences": [
            {"id": d.id, "areas": sorted(d.areas), "differs": d.differs, "not_fixed": d.not_fixed}
            for d in divergences_bearing_on(areas)
        ],
    }
