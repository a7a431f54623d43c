"""Typed Step Functions state machines, rendered to Amazon States Language (ASL).

A state machine is declared from these models, never as a JSON blob: each ``Next`` resolves in
its own scope (the machine's states, or one Parallel branch's), each Task names a function of the
stack, and the renderer (``stack.definition.render``) grants the machine's role
``lambda:InvokeFunction`` on exactly the functions its Tasks name. In the ASL a Task's
``Resource`` is a ``${<Function>Arn}`` placeholder, filled by CloudFormation's
``DefinitionSubstitutions`` with the function's ARN.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# A function's logical id (the same alias as ``stack.definition.models.LogicalId``, which imports
# this module: a str either way).
FunctionId = str
StateName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,79}$")]
JsonPath = Annotated[str, Field(pattern=r"^\$")]
# Errors every Lambda task may meet that are not the function's own: worth a retry (AWS advises
# retrying these on every Lambda task).
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
)
# The function is at its concurrency limit (reserved, or the account's): retried on its own
# schedule, long enough for a burst to drain.
LAMBDA_THROTTLE_ERROR = "Lambda.TooManyRequestsException"


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    comment: str | None = None


class Retry(BaseModel):
    """Retry the state on these errors: wait ``interval_seconds``, then that times
    ``backoff_rate`` after each further failure, at most ``max_attempts`` retries. Each wait is
    at most ``max_delay_seconds``; ``full_jitter`` draws each wait at random below it (so many
    executions throttled together do not all come back together)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_equals: list[str] = Field(min_length=1)
    interval_seconds: int = Field(1, ge=1, le=99999999)
    max_attempts: int = Field(3, ge=0, le=99999999)
    backoff_rate: float = Field(2.0, ge=1.0)
    max_delay_seconds: int | None = Field(None, ge=1, le=31622400)
    full_jitter: bool = False


class Catch(BaseModel):
    """On these errors (after any retries), go to ``next`` with ``{"Error", "Cause"}`` at
    ``result_path`` of the state's input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error_equals: list[str] = Field(min_length=1)
    next: StateName
    result_path: JsonPath | None = "$.error"


class _Flow(_State):
    """A state that goes on: ``next``, or ``end`` the machine (or its branch)."""

    next: StateName | None = None
    end: bool = False

    @model_validator(mode="after")
    def _next_or_end(self) -> _Flow:
        if (self.next is None) == (not self.end):
            raise ValueError("a state has either next or end: true")
        return self


class TaskState(_Flow):
    """Invoke one function of the stack with the state's input."""

    type: Literal["Task"] = "Task"
    function: FunctionId
    result_path: JsonPath | None = None
    result_selector: dict[str, Any] | None = None
    timeout_seconds: int | None = Field(None, ge=1)
    retry: list[Retry] = []
    catch: list[Catch] = []


class ChoiceRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    variable: JsonPath
    string_equals: str
    next: StateName


class ChoiceState(_State):
    type: Literal["Choice"] = "Choice"
    choices: list[ChoiceRule] = Field(min_length=1)
    default: StateName


class PassState(_Flow):
    type: Literal["Pass"] = "Pass"
    result: Any = None
    result_path: JsonPath | None = None


class SucceedState(_State):
    type: Literal["Succeed"] = "Succeed"


class FailState(_State):
    type: Literal["Fail"] = "Fail"
    error: str
    cause: str | None = None


class ParallelState(_Flow):
    """Run every branch on the same input; the output is the list of the branches' outputs."""

    type: Literal["Parallel"] = "Parallel"
    branches: list[Branch] = Field(min_length=1)
    result_path: JsonPath | None = None
    result_selector: dict[str, Any] | None = None
    retry: list[Retry] = []
    catch: list[Catch] = []


State = Annotated[
    TaskState | ChoiceState | ParallelState | PassState | SucceedState | FailState, Field(discriminator="type")
]


class Branch(BaseModel):
    """A scope of states: the machine's own, or one Parallel branch (whose states cannot name the
    states outside it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_at: StateName
    states: dict[StateName, State] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_resolve(self) -> Branch:
        targets = [self.start_at]
        for state in self.states.values():
            targets += _transitions(state)
        unknown = sorted(set(targets) - set(self.states))
        if unknown:
            raise ValueError(f"transitions to states not in this scope: {unknown}")
        return self

    def task_functions(self) -> list[FunctionId]:
        """The functions this scope's Tasks invoke, nested branches included (sorted, once each)."""
        found: set[FunctionId] = set()
        for state in self.states.values():
            if isinstance(state, TaskState):
                found.add(state.function)
            elif isinstance(state, ParallelState):
                found.update(f for branch in state.branches for f in branch.task_functions())
        return sorted(found)


class StateMachine(Branch):
    """A standard-workflow state machine of the stack; its ``Ref`` is its ARN."""

    logical_id: str
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}$")
    comment: str | None = None
    timeout_seconds: int | None = Field(None, ge=1)


def _transitions(state: State) -> list[str]:
    names: list[str] = []
    if isinstance(state, _Flow) and state.next:
        names.append(state.next)
    if isinstance(state, TaskState | ParallelState):
        names += [catch.next for catch in state.catch]
    if isinstance(state, ChoiceState):
        names += [rule.next for rule in state.choices] + [state.default]
    return names


def function_arn_placeholder(function: FunctionId) -> str:
    """The ``DefinitionSubstitutions`` key standing for the function's ARN in the ASL."""
    return f"{function}Arn"


def _retry(retry: Retry) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "ErrorEquals": list(retry.error_equals),
        "IntervalSeconds": retry.interval_seconds,
        "MaxAttempts": retry.max_attempts,
        "BackoffRate": retry.backoff_rate,
    }
    if retry.max_delay_seconds is not None:
        rendered["MaxDelaySeconds"] = retry.max_delay_seconds
    if retry.full_jitter:
        rendered["JitterStrategy"] = "FULL"
    return rendered


def _catch(catch: Catch) -> dict[str, Any]:
    rendered: dict[str, Any] = {"ErrorEquals": list(catch.error_equals), "Next": catch.next}
    if catch.result_path is not None:
        rendered["ResultPath"] = catch.result_path
    return rendered


def _flow(state: _Flow) -> dict[str, Any]:
    return {"End": True} if state.end else {"Next": state.next}


def _state(state: State) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": state.type}
    if state.comment:
        out["Comment"] = state.comment
    if isinstance(state, TaskState):
        out["Resource"] = "${" + function_arn_placeholder(state.function) + "}"
        if state.timeout_seconds is not None:
            out["TimeoutSeconds"] = state.timeout_seconds
    if isinstance(state, ParallelState):
        out["Branches"] = [branch_asl(branch) for branch in state.branches]
    if isinstance(state, TaskState | ParallelState):
        if state.result_selector is not None:
            out["ResultSelector"] = state.result_selector
        if state.result_path is not None:
            out["ResultPath"] = state.result_path
        if state.retry:
            out["Retry"] = [_retry(retry) for retry in state.retry]
        if state.catch:
            out["Catch"] = [_catch(catch) for catch in state.catch]
    if isinstance(state, PassState):
        if state.result is not None:
            out["Result"] = state.result
        if state.result_path is not None:
            out["ResultPath"] = state.result_path
    if isinstance(state, ChoiceState):
        out["Choices"] = [
            {"Variable": rule.variable, "StringEquals": rule.string_equals, "Next": rule.next} for rule in state.choices
        ]
        out["Default"] = state.default
    if isinstance(state, FailState):
        out["Error"] = state.error
        if state.cause is not None:
            out["Cause"] = state.cause
    if isinstance(state, _Flow):
        out.update(_flow(state))
    return out


def branch_asl(branch: Branch) -> dict[str, Any]:
    return {"StartAt": branch.start_at, "States": {name: _state(state) for name, state in branch.states.items()}}


def definition_asl(machine: StateMachine) -> dict[str, Any]:
    """The machine as an ASL document, with ``${<Function>Arn}`` placeholders for its functions."""
    document: dict[str, Any] = {}
    if machine.comment:
        document["Comment"] = machine.comment
    document.update(branch_asl(machine))
    if machine.timeout_seconds is not None:
        document["TimeoutSeconds"] = machine.timeout_seconds
    return document


ParallelState.model_rebuild()
