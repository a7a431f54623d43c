"""The embedded target's known remaining divergences from AWS, and why each is not fixed.

One catalogue, in code, so `hookstack fidelity` prints it with the scores, load and chaos
reports can name what bears on them (``divergences_bearing_on``), and docs/emulator-fidelity.md
lists the same entries (a unit test compares the two).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack.embedded.interpreters import FunctionsPython
from stack.fidelity.behaviour import AREAS

# Beyond the suite's areas, a divergence can bear on how functions run and what timings mean.
DIVERGENCE_AREAS = (*AREAS, "lambda-runtime", "performance")
# Which interpreter ran the functions (stack.embedded.interpreters): the host's standing in for the
# declared runtime, or a local interpreter of the declared runtime's version.
HOST_INTERPRETER = "host"
DECLARED_INTERPRETER = "declared"


@dataclass(frozen=True)
class Divergence:
    id: str
    areas: frozenset[str]
    differs: str  # what the embedded target does, against what AWS does
    not_fixed: str  # why it stays
    behaviour_id: str | None = None  # the suite's behaviour that shows it, if one does
    interpreter: str | None = None  # it holds only when that interpreter ran the functions; None: either

    def __post_init__(self) -> None:
        unknown = self.areas - set(DIVERGENCE_AREAS)
        if unknown:
            raise ValueError(f"divergence {self.id}: unknown areas {sorted(unknown)}")
        if self.interpreter not in (None, HOST_INTERPRETER, DECLARED_INTERPRETER):
            raise ValueError(f"divergence {self.id}: unknown interpreter {self.interpreter!r}")


def _d(
    id: str,
    areas: set[str],
    differs: str,
    not_fixed: str,
    behaviour_id: str | None = None,
    interpreter: str | None = None,
) -> Divergence:
    return Divergence(id, frozenset(areas), differs, not_fixed, behaviour_id, interpreter)


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
        "The declared runtime's Python is not installed here, so functions run on the host's Python instead, and "
        "the emulator's executor lets them import anything installed beside it: a dependency missing from the zip "
        "goes unnoticed there.",
        "Install the declared runtime's interpreter (python3.12 on PATH) and hookstack runs every function on it, "
        "isolated; until then build the AWS artifact for the declared runtime and run the LocalStack or AWS "
        "target before release.",
        interpreter=HOST_INTERPRETER,
    ),
    _d(
        "lambda-local-runtime-build",
        {"lambda-runtime"},
        "Functions run on a local interpreter of the declared runtime's version (its own patch release, C library "
        "and machine), with the host's boto3 and botocore standing in for the ones the Lambda runtime bundles.",
        "Same language version and compiled-wheel ABI as the runtime; its exact build needs its container image, "
        "which the embedded target does without: run the LocalStack or AWS target before release.",
        interpreter=DECLARED_INTERPRETER,
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
        "stepfunctions-retry-wait-ceiling",
        {"performance"},
        "A Step Functions retry waits at most 60 s whatever the retrier (AWS: no bound without MaxDelaySeconds, "
        "its value with it); MaxDelaySeconds and JitterStrategy FULL are honoured below that (patch "
        "stepfunctions-retry-max-delay-jitter), and the retrier fields are not validated at CreateStateMachine.",
        "Kept from the emulator so a long backoff does not stall a local run; this stack's longest wait is 10 s "
        "(MaxDelaySeconds), and the definition's Retry model allows only the fields' AWS ranges.",
    ),
    _d(
        "emulator-capacity",
        {"performance", "event-source-mapping", "api-limits"},
        "One emulator process on one core carries every storage call: ~140-157 events/s end to end on a "
        "2-core machine; a load above that backlogs where AWS would not.",
        "It is the emulator's design; load figures from the embedded target describe this host, not AWS.",
    ),
)


def divergences_bearing_on(areas: set[str], interpreter: str | None = None) -> list[Divergence]:
    """The catalogued divergences that bear on any of ``areas``, in catalogue order; with
    ``interpreter``, only those that hold when it ran the functions."""
    unknown = set(areas) - set(DIVERGENCE_AREAS)
    if unknown:
        raise ValueError(f"unknown areas {sorted(unknown)}; known: {', '.join(DIVERGENCE_AREAS)}")
    return [
        d for d in CATALOGUE if d.areas & set(areas) and (interpreter is None or d.interpreter in (None, interpreter))
    ]


def functions_python_section(functions_python: FunctionsPython | None) -> dict[str, Any]:
    """Which interpreter ran the functions, for a report: the stage's record, or that there is none
    (a stage deployed before hookstack recorded it ran its functions on the host interpreter)."""
    if functions_python is None:
        return {"declared": False, "line": "functions ran on the host interpreter (not recorded by this stage)"}
    return {**functions_python.model_dump(mode="json"), "line": functions_python.describe()}


def fidelity_report(target: str, areas: set[str], functions_python: FunctionsPython | None = None) -> dict[str, Any]:
    """What a load or drill report on ``target`` says of the catalogued divergences bearing on what it
    measured (``areas``): the ``fidelity`` key of summary.json and of the drill report. On the embedded
    target, ``functions_python`` (the stage's outputs) says which interpreter ran the functions."""
    if target != "embedded":
        note = (
            "measured on AWS itself: no emulator divergence applies"
            if target == "aws"
            else f"the {target} target's divergences from AWS are not catalogued here"
        )
        return {"target": target, "areas": sorted(areas), "note": note, "divergences": []}
    python = functions_python_section(functions_python)
    interpreter = DECLARED_INTERPRETER if python["declared"] else HOST_INTERPRETER
    return {
        "target": target,
        "areas": sorted(areas),
        "note": "the embedded emulator differs from AWS in these ways that bear on this report "
        "(`hookstack fidelity` measures the rest)",
        "functions_python": python,
        "divergences": [
            {"id": d.id, "areas": sorted(d.areas), "differs": d.differs, "not_fixed": d.not_fixed}
            for d in divergences_bearing_on(areas, interpreter)
        ],
    }
