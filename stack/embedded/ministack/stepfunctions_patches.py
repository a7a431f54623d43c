"""The patches that make a Step Functions Lambda task on the pinned MiniStack meet a function's
concurrency limit, and back off from it, as it does on AWS (beside ``patches.py``'s SQS and Lambda
ones, with the same guard: the pinned release and the sha256 of every function each patch relies
on, else it refuses).

``lambda-cfn-reserved-concurrency``
    MiniStack 1.5.33's CloudFormation provisioner for ``AWS::Lambda::Function`` drops
    ``ReservedConcurrentExecutions``: ``_lambda_create`` builds the function record with
    ``"concurrency": None`` and ``_lambda_update`` never reads the property, so a function the
    template limits runs unlimited (``GetFunctionConcurrency`` answers ``{}``). AWS
    (``AWS::Lambda::Function`` reference, ``ReservedConcurrentExecutions``): the function gets that
    reserved concurrency, and an update without the property removes it. The patch sets the
    record's ``concurrency`` as MiniStack's own PutFunctionConcurrency does (a bare int, which
    ``lambda_svc._acquire_execution_slot`` and GetFunctionConcurrency read) after MiniStack's
    create and update, or clears it when the property is absent.
``stepfunctions-lambda-throttle-error``
    MiniStack 1.5.33: a Lambda task whose function is at its concurrency limit fails with
    ``Lambda.Unknown``: ``lambda_svc._execute_function`` answers the throttle as
    ``_throttle_response`` shapes it for the Invoke API (``{"__type": "TooManyRequestsException",
    "message", "Reason", "retryAfterSeconds"}``) and ``stepfunctions._call_lambda`` reads only
    ``errorType`` from it. AWS (Step Functions developer guide, "Handling errors": the Lambda
    service exceptions to retry on every Lambda task; Lambda Invoke API: ``TooManyRequestsException``,
    429): the task fails with ``Lambda.TooManyRequestsException``, so a Retry on that name
    (backing off until the function has room) matches. The patch wraps ``_call_lambda`` and
    renames only that error, with AWS's kind of Cause (the message, "Status Code: 429; Error Code:
    TooManyRequestsException"); every other result and error is MiniStack's.
``stepfunctions-retry-max-delay-jitter``
    MiniStack 1.5.33 waits ``min(IntervalSeconds × BackoffRate ** n, 60)`` before retry n + 1
    (n from 0; defaults 1 and 2.0, as AWS) and reads neither ``MaxDelaySeconds`` nor
    ``JitterStrategy``: a throttled step sleeps 16, 32, then 60 s however the definition caps it,
    and every execution throttled at once comes back at once. AWS (Step Functions developer
    guide, "Handling errors", retrier fields; the CDK's ``RetryProps``/``JitterType`` say the
    same): ``MaxDelaySeconds`` is the maximum up to which the interval can grow, and
    ``JitterStrategy: FULL`` makes each wait a random number between 0 and that computed (capped)
    interval; ``NONE``, the default, waits the interval itself. The patch rebuilds MiniStack's two
    retry loops (``_execute_task`` for Task states, ``_with_retry_and_catch`` for Parallel and Map)
    from their own source with the one wait line changed: the wait is the backoff, capped at
    ``MaxDelaySeconds`` when set, then at MiniStack's 60 s, then with ``FULL`` drawn uniformly in
    [0, that); it still goes through ``_scaled_sleep``, so ``_SFN_WAIT_SCALE`` (``POST
    /_ministack/config``) still scales or removes it. Without the two fields the waits are
    MiniStack's, to the bit. Not added: AWS's validation of the fields at CreateStateMachine, and
    the TestState API's reported ``retryBackoffIntervalSeconds`` (no wait there) stays the plain
    backoff.

What they rely on (MiniStack 1.5.33): ``services.cloudformation.provisioners`` dispatches
``AWS::Lambda::Function`` through ``_RESOURCE_HANDLERS[type]["create"|"update"]``, each returning
``(function name, attributes)`` with the record in ``lambda_svc._functions[name]``; an update that
replaces the function calls the module's ``_lambda_create`` itself, then returns the new name
(the update wrapper sets the limit on whatever name it returns). ``services.stepfunctions`` calls
``_call_lambda`` through its module globals from every Lambda task path (``arn:…:function:``,
``states:::lambda:invoke`` and its ``waitForTaskToken`` form); a throttle reaches it as a result
with ``error`` set and the body above, which ``_call_lambda`` raises as
``_ExecutionError("Lambda.Unknown", json.dumps(body))``. Both state loops (``_run_execution``,
``_run_sub_machine``) build their handler table from the module globals for every state, and
``_execute_parallel``/``_execute_map`` call ``_with_retry_and_catch`` through them, so rebinding
the two retry loops reaches every retry; each has its wait in one line, ``_scaled_sleep(min(…,
60))`` right after ``_find_matching_retrier`` chose the retrier, with ``count`` its retries so far.
"""

from __future__ import annotations

import inspect
import json
import linecache
import random
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from stack.embedded.ministack.patches import PatchOutcome, installed_ministack_version, source_refusal

CFN_RESERVED_CONCURRENCY_PATCH = "lambda-cfn-reserved-concurrency"
THROTTLE_ERROR_PATCH = "stepfunctions-lambda-throttle-error"
RETRY_WAIT_PATCH = "stepfunctions-retry-max-delay-jitter"

LAMBDA_THROTTLE_ERROR = "Lambda.TooManyRequestsException"
_FUNCTION_TYPE = "AWS::Lambda::Function"
_THROTTLE_TYPE = "TooManyRequestsException"  # the ``__type`` of MiniStack's throttle body

_EXPECTED_PROVISIONER_SOURCE_SHA256 = {
    "_lambda_create": "8b2cf80e961d92ee1f17e7570805cc653c366df5724cf7424bcf19d6d475c8ce",
    "_lambda_update": "4855410e37d7a80d1239cc92fc1cca282d7a4cb801e5234c6a582403c6b4d4c9",
}
_EXPECTED_LAMBDA_SOURCE_SHA256 = {
    "_acquire_execution_slot": "ed3b38149e2e14aaf63ef63060c189a9bac09ab8255ef83f09bc2b6ddc44b742",
    "_put_function_concurrency": "172358f9cb8292ef54b852d5269a110c6bb9a6c8f831c513a05f7c9d204679cd",
    "_throttle_response": "647221d5b0775feb5335a56f6640977c1b1477937e3edd635d8919aa577c41ae",
}
_EXPECTED_STEPFUNCTIONS_SOURCE_SHA256 = {
    "_call_lambda": "25830369b12636da09a4e4650489842a507f43aa952b5186a47458ff6f3c47d5",
}
_EXPECTED_RETRY_SOURCE_SHA256 = {
    "_execute_task": "53c818d247dba62c49b82c78ad185f18083422f2bc30168836d7b4f2dae28d9a",
    "_with_retry_and_catch": "b351699db7b381ef576a7e75ff60547346976d2f41a6c3f7a1c7919cd44aa1a2",
    "_scaled_sleep": "5ed19df2efa98412c20be89d2ac932b48b42994c7086ecf62b3ea29aa6f8113e",
    "_find_matching_retrier": "cb494ae8503cce39ee49c409d9c1946a51cbf7709a67b5f5ce376db5a0c79170",
}


# ── CloudFormation: a function's ReservedConcurrentExecutions ───────────────


def _reserve(lambda_module: ModuleType, name: str, props: dict[str, Any]) -> None:
    record = lambda_module._functions.get(name)
    if record is None:
        return
    value = props.get("ReservedConcurrentExecutions")
    record["concurrency"] = None if value is None else int(value)


def reserving_function_handlers(lambda_module: ModuleType, upstream: dict[str, Any]) -> dict[str, Any]:
    """MiniStack's create and update for ``AWS::Lambda::Function``, then the function's reserved
    concurrency set from the template."""
    create_upstream: Callable[..., Any] = upstream["create"]
    update_upstream: Callable[..., Any] = upstream["update"]

    def create(logical_id: str, props: dict[str, Any], stack_name: str) -> Any:
        name, attributes = create_upstream(logical_id, props, stack_name)
        _reserve(lambda_module, name, props)
        return name, attributes

    def update(physical_id: str, old_props: dict[str, Any], new_props: dict[str, Any], *rest: Any) -> Any:
        name, attributes = update_upstream(physical_id, old_props, new_props, *rest)
        _reserve(lambda_module, name, new_props)
        return name, attributes

    create.hookstack_patch = CFN_RESERVED_CONCURRENCY_PATCH  # type: ignore[attr-defined]
    create.__wrapped__ = create_upstream  # type: ignore[attr-defined]
    update.hookstack_patch = CFN_RESERVED_CONCURRENCY_PATCH  # type: ignore[attr-defined]
    update.__wrapped__ = update_upstream  # type: ignore[attr-defined]
    return {**upstream, "create": create, "update": update}


def apply_cfn_reserved_concurrency_patch(
    provisioners: ModuleType | None = None,
    lambda_module: ModuleType | None = None,
    installed_version: str | None = None,
) -> PatchOutcome:
    if provisioners is None or lambda_module is None:
        from ministack.services import lambda_svc
        from ministack.services.cloudformation import provisioners as cfn_provisioners

        provisioners, lambda_module = cfn_provisioners, lambda_svc
    handlers = getattr(provisioners, "_RESOURCE_HANDLERS", {})
    function_handlers = handlers.get(_FUNCTION_TYPE) or {}
    if getattr(function_handlers.get("create"), "hookstack_patch", None) == CFN_RESERVED_CONCURRENCY_PATCH:
        return PatchOutcome(CFN_RESERVED_CONCURRENCY_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = source_refusal(provisioners, _EXPECTED_PROVISIONER_SOURCE_SHA256, version) or source_refusal(
        lambda_module, _EXPECTED_LAMBDA_SOURCE_SHA256, version
    )
    if refusal is None and (
        function_handlers.get("create") is not provisioners._lambda_create
        or function_handlers.get("update") is not provisioners._lambda_update
    ):
        refusal = (
            f"ministack's CloudFormation provisioners no longer dispatch {_FUNCTION_TYPE} to _lambda_create/_update"
        )
    if refusal is not None:
        return PatchOutcome(CFN_RESERVED_CONCURRENCY_PATCH, False, refusal)
    handlers[_FUNCTION_TYPE] = reserving_function_handlers(lambda_module, function_handlers)
    return PatchOutcome(
        CFN_RESERVED_CONCURRENCY_PATCH, True, "a template's ReservedConcurrentExecutions limits the function"
    )


# ── Step Functions: a throttled Lambda task ──────────────────────────────────


def _throttle_message(error: Any) -> str | None:
    """The throttle's message if MiniStack's ``_call_lambda`` raised ``error`` for a throttle."""
    if getattr(error, "error", None) != "Lambda.Unknown":
        return None
    try:
        body = json.loads(str(getattr(error, "cause", "")))
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("__type") != _THROTTLE_TYPE:
        return None
    return str(body.get("message") or "Rate Exceeded.")


def naming_lambda_throttles(
    call_lambda: Callable[[Any, Any], Any], execution_error: type[Exception]
) -> Callable[[Any, Any], Any]:
    """Wrap ``_call_lambda`` so a throttled invoke fails the task as AWS names it."""

    def call(func_ref: Any, event: Any) -> Any:
        try:
            return call_lambda(func_ref, event)
        except execution_error as error:
            message = _throttle_message(error)
            if message is None:
                raise
            cause = f"{message} (Service: Lambda, Status Code: 429, Error Code: {_THROTTLE_TYPE})"
            raise execution_error(LAMBDA_THROTTLE_ERROR, cause) from None  # MiniStack's (error, cause)

    call.hookstack_patch = THROTTLE_ERROR_PATCH  # type: ignore[attr-defined]
    call.__wrapped__ = call_lambda  # type: ignore[attr-defined]
    return call


def apply_throttle_error_patch(
    stepfunctions: ModuleType | None = None,
    lambda_module: ModuleType | None = None,
    installed_version: str | None = None,
) -> PatchOutcome:
    if stepfunctions is None or lambda_module is None:
        from ministack.services import lambda_svc
        from ministack.services import stepfunctions as sfn

        stepfunctions, lambda_module = sfn, lambda_svc
    current = getattr(stepfunctions, "_call_lambda", None)
    if getattr(current, "hookstack_patch", None) == THROTTLE_ERROR_PATCH:
        return PatchOutcome(THROTTLE_ERROR_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = source_refusal(stepfunctions, _EXPECTED_STEPFUNCTIONS_SOURCE_SHA256, version) or source_refusal(
        lambda_module, {"_throttle_response": _EXPECTED_LAMBDA_SOURCE_SHA256["_throttle_response"]}, version
    )
    execution_error = getattr(stepfunctions, "_ExecutionError", None)
    if refusal is None and not isinstance(execution_error, type):
        refusal = "ministack.services.stepfunctions._ExecutionError is missing"
    if refusal is not None:
        return PatchOutcome(THROTTLE_ERROR_PATCH, False, refusal)
    assert current is not None and isinstance(execution_error, type)
    # Every Lambda task path looks it up in the module globals on each call: rebinding suffices.
    setattr(stepfunctions, "_call_lambda", naming_lambda_throttles(current, execution_error))  # noqa: B010
    return PatchOutcome(THROTTLE_ERROR_PATCH, True, f"a throttled Lambda task fails with {LAMBDA_THROTTLE_ERROR}")


# ── Step Functions: a retrier's MaxDelaySeconds and JitterStrategy ──────────

MINISTACK_RETRY_WAIT_CEILING_S = 60  # MiniStack's own bound on every retry wait, kept
# The module global the rebuilt retry loops call for a wait (hookstack's name in MiniStack's module).
RETRY_WAIT_GLOBAL = "_hookstack_retry_wait_seconds"
# Each retry loop's wait line in MiniStack 1.5.33 (the guard's sha256 pins it), and its replacement.
_RETRY_WAIT_LINES = {
    "_execute_task": "_scaled_sleep(min(sleep_sec, 60))",
    "_with_retry_and_catch": '_scaled_sleep(min(interval * (retrier.get("BackoffRate", 2.0) ** count), 60))',
}
_PATCHED_WAIT_LINE = f"_scaled_sleep({RETRY_WAIT_GLOBAL}(retrier, count))"


class RandomSource(Protocol):
    def random(self) -> float:
        """A number in [0, 1)."""
        ...


def retry_wait_seconds(retrier: dict[str, Any], count: int, random_source: RandomSource) -> float:
    """The wait before retry ``count + 1`` under ``retrier``, before ``_SFN_WAIT_SCALE``: AWS's
    (backoff, capped at MaxDelaySeconds, FULL jitter below that) within MiniStack's 60 s."""
    # MiniStack's expression and defaults, so the waits without the two fields are its own.
    wait = retrier.get("IntervalSeconds", 1) * (retrier.get("BackoffRate", 2.0) ** count)
    max_delay = retrier.get("MaxDelaySeconds")
    if max_delay is not None:
        wait = min(wait, max_delay)
    wait = min(wait, MINISTACK_RETRY_WAIT_CEILING_S)
    if retrier.get("JitterStrategy") == "FULL":
        return wait * random_source.random()  # uniform in [0, wait)
    return wait


def _rebuilt_retry_loop(stepfunctions: ModuleType, name: str) -> Callable[..., Any] | str:
    """MiniStack's ``name`` compiled from its own source with the wait line replaced, in the
    module's globals (so it sees every later rebinding, as the original does); or why not."""
    original = getattr(stepfunctions, name)
    source_lines, first_line = inspect.getsourcelines(original)
    source = "".join(source_lines)
    wait_line = _RETRY_WAIT_LINES[name]
    if source.count(wait_line) != 1:
        return f"{stepfunctions.__name__}.{name} has no single wait line {wait_line!r}"
    patched_source = source.replace(wait_line, _PATCHED_WAIT_LINE)
    # Its own file name, kept in linecache with the same line numbers: tracebacks show what ran.
    filename = f"<{RETRY_WAIT_PATCH}: {inspect.getsourcefile(original)}>"
    padded = "\n" * (first_line - 1) + patched_source
    linecache.cache[filename] = (len(padded), None, padded.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(padded, filename, "exec"), vars(stepfunctions), namespace)  # noqa: S102 - MiniStack's own, checked source
    rebuilt: Callable[..., Any] = namespace[name]
    rebuilt.hookstack_patch = RETRY_WAIT_PATCH  # type: ignore[attr-defined]
    rebuilt.__wrapped__ = original  # type: ignore[attr-defined]
    return rebuilt


def apply_retry_wait_patch(
    stepfunctions: ModuleType | None = None,
    installed_version: str | None = None,
    random_source: RandomSource | None = None,
) -> PatchOutcome:
    if stepfunctions is None:
        from ministack.services import stepfunctions as sfn

        stepfunctions = sfn
    if getattr(getattr(stepfunctions, "_execute_task", None), "hookstack_patch", None) == RETRY_WAIT_PATCH:
        return PatchOutcome(RETRY_WAIT_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = source_refusal(stepfunctions, _EXPECTED_RETRY_SOURCE_SHA256, version)
    if refusal is not None:
        return PatchOutcome(RETRY_WAIT_PATCH, False, refusal)
    rebuilt: dict[str, Callable[..., Any]] = {}
    for name in _RETRY_WAIT_LINES:
        loop = _rebuilt_retry_loop(stepfunctions, name)
        if isinstance(loop, str):
            return PatchOutcome(RETRY_WAIT_PATCH, False, loop)
        rebuilt[name] = loop
    draws = random_source if random_source is not None else random.Random()

    def wait_seconds(retrier: dict[str, Any], count: int) -> float:
        return retry_wait_seconds(retrier, count, draws)

    setattr(stepfunctions, RETRY_WAIT_GLOBAL, wait_seconds)
    for name, loop in rebuilt.items():
        setattr(stepfunctions, name, loop)
    return PatchOutcome(
        RETRY_WAIT_PATCH, True, "retry waits honour MaxDelaySeconds and JitterStrategy FULL, within MiniStack's 60 s"
    )


def apply_stepfunctions_patches() -> list[PatchOutcome]:
    """The three patches; each may refuse on its own."""
    return [apply_cfn_reserved_concurrency_patch(), apply_throttle_error_patch(), apply_retry_wait_patch()]
