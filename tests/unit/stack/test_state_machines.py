"""Typed state machines: the scope checks, the ASL they render to (checked by hand against the
States Language), and the role's least privilege."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from handlers.invoices.contract import AccountingUnavailable, PaymentUnavailable
from stack.config import HookstackConfig
from stack.definition.app import hookstack_stack
from stack.definition.render import render_template
from stack.definition.state_machines import (
    Branch,
    Catch,
    ChoiceRule,
    ChoiceState,
    FailState,
    ParallelState,
    PassState,
    Retry,
    StateMachine,
    SucceedState,
    TaskState,
    definition_asl,
)
from stack.patterns.orchestration import STATE_MACHINE


def _small() -> StateMachine:
    return StateMachine(
        logical_id="Flow",
        name="flow",
        start_at="First",
        states={
            "First": TaskState(
                function="AFunction",
                result_path="$.a",
                retry=[Retry(error_equals=["Flaky"], interval_seconds=2, max_attempts=4, backoff_rate=1.5)],
                catch=[Catch(error_equals=["States.ALL"], next="Broken")],
                next="Both",
            ),
            "Both": ParallelState(
                branches=[
                    Branch(start_at="Left", states={"Left": TaskState(function="BFunction", end=True)}),
                    Branch(start_at="Right", states={"Right": PassState(result={"x": 1}, end=True)}),
                ],
                result_path="$.both",
                next="Which",
            ),
            "Which": ChoiceState(
                choices=[ChoiceRule(variable="$.kind", string_equals="a", next="Done")], default="Broken"
            ),
            "Done": SucceedState(),
            "Broken": FailState(error="Broken", cause="it broke"),
        },
    )


def test_the_asl_is_the_states_language_document_written_by_hand():
    assert definition_asl(_small()) == {
        "StartAt": "First",
        "States": {
            "First": {
                "Type": "Task",
                "Resource": "${AFunctionArn}",
                "ResultPath": "$.a",
                "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "MaxAttempts": 4, "BackoffRate": 1.5}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Broken", "ResultPath": "$.error"}],
                "Next": "Both",
            },
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Left",
                        "States": {"Left": {"Type": "Task", "Resource": "${BFunctionArn}", "End": True}},
                    },
                    {"StartAt": "Right", "States": {"Right": {"Type": "Pass", "Result": {"x": 1}, "End": True}}},
                ],
                "ResultPath": "$.both",
                "Next": "Which",
            },
            "Which": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.kind", "StringEquals": "a", "Next": "Done"}],
                "Default": "Broken",
            },
            "Done": {"Type": "Succeed"},
            "Broken": {"Type": "Fail", "Error": "Broken", "Cause": "it broke"},
        },
    }
    assert _small().task_functions() == ["AFunction", "BFunction"]


def test_a_transition_must_resolve_in_its_own_scope():
    with pytest.raises(ValidationError, match="not in this scope"):
        StateMachine(logical_id="F", name="f", start_at="A", states={"A": TaskState(function="X", next="Nowhere")})
    # A branch cannot jump to a state of the machine around it.
    with pytest.raises(ValidationError, match="not in this scope"):
        Branch(start_at="L", states={"L": TaskState(function="X", next="Outside")})
    with pytest.raises(ValidationError, match="either next or end"):
        TaskState(function="X")
    with pytest.raises(ValidationError, match="either next or end"):
        TaskState(function="X", next="B", end=True)


def _template() -> dict:
    return render_template(hookstack_stack(HookstackConfig(patterns=["orchestration", "notifications"])))


def test_the_invoice_machine_renders_with_substituted_arns_and_a_least_privilege_role():
    resources = _template()["Resources"]
    machine = resources[STATE_MACHINE]["Properties"]
    definition = machine["Definition"]
    substitutions = machine["DefinitionSubstitutions"]
    step_functions = [
        "InvoiceBookingFunction",
        "InvoiceCompensationFunction",
        "InvoiceCompletionFunction",
        "InvoicePaymentFunction",
        "InvoiceSaveFunction",
        "InvoiceTotalsFunction",
    ]
    assert substitutions == {f"{f}Arn": {"Fn::GetAtt": [f, "Arn"]} for f in step_functions}
    (statement,) = resources[f"{STATE_MACHINE}Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["lambda:InvokeFunction"]
    assert statement["Resource"] == [{"Fn::GetAtt": [f, "Arn"]} for f in step_functions]
    # Neither the intake, the query nor the starter is the machine's to invoke.
    assert "InvoiceStarterFunction" not in str(statement)

    states = definition["States"]
    booking = states["RecordInvoice"]["Branches"][1]["States"]["BookInvoice"]
    assert booking["Retry"][0] == {
        "ErrorEquals": [AccountingUnavailable.__name__],
        "IntervalSeconds": 1,
        "MaxAttempts": 3,
        "BackoffRate": 2.0,
    }
    assert states["ChargePayment"]["Retry"][0]["ErrorEquals"] == [PaymentUnavailable.__name__]
    for name in ("ComputeTotals", "RecordInvoice", "ChargePayment", "CompleteInvoice"):
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"], "Next": "Compensate", "ResultPath": "$.error"}]
    assert states["Compensate"]["Next"] == "InvoiceFailed" and states["InvoiceFailed"]["Type"] == "Fail"
    assert states["PaymentMethod"]["Choices"] == [
        {"Variable": "$.payment", "StringEquals": "card", "Next": "ChargePayment"}
    ]
    # Every placeholder in the document has its substitution.
    placeholders = {f"{s['Resource'][2:-1]}" for s in _tasks(definition)}
    assert placeholders == set(substitutions)


def _tasks(document: dict) -> list[dict]:
    found = []
    for state in document["States"].values():
        if state["Type"] == "Task":
            found.append(state)
        for branch in state.get("Branches", []):
            found += _tasks(branch)
    return found


def test_the_starter_may_start_executions_of_this_machine_only():
    resources = _template()["Resources"]
    statements = resources["InvoiceStarterFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    starts = [s for s in statements if "states:StartExecution" in s["Action"]]
    assert starts == [
        {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": [{"Fn::GetAtt": [STATE_MACHINE, "Arn"]}]}
    ]


def test_the_sabotaged_stage_deploys_the_unkeyed_booking_step():
    definition = hookstack_stack(HookstackConfig(patterns=["orchestration"], orchestration_sabotage="unkeyed-booking"))
    assert definition.function("InvoiceBookingFunction").handler == "handlers.invoices.booking.unkeyed_handler"
    plain = hookstack_stack(HookstackConfig(patterns=["orchestration"]))
    assert plain.function("InvoiceBookingFunction").handler == "handlers.invoices.booking.handler"


def test_every_step_reserves_the_configured_width_and_retries_its_throttles_first():
    config = HookstackConfig(patterns=["orchestration"], invoice_step_concurrency=3)
    resources = render_template(hookstack_stack(config))["Resources"]
    definition = resources[STATE_MACHINE]["Properties"]["Definition"]
    tasks = _tasks(definition)
    steps = {task["Resource"][2:-4] for task in tasks}  # ${InvoiceSaveFunctionArn} → InvoiceSaveFunction
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function" and logical_id.startswith("Invoice"):
            reserved = resource["Properties"].get("ReservedConcurrentExecutions")
            assert reserved == (3 if logical_id in steps else None), logical_id
    throttle = {
        "ErrorEquals": ["Lambda.TooManyRequestsException"],
        "IntervalSeconds": 1,
        "MaxAttempts": 20,
        "BackoffRate": 2.0,
        "MaxDelaySeconds": 20,
        "JitterStrategy": "FULL",
    }
    for task in tasks:
        # The first matching retrier decides: the throttle one before the generic service errors.
        names = [retry["ErrorEquals"] for retry in task["Retry"]]
        assert throttle in task["Retry"], task
        assert task["Retry"].index(throttle) < names.index(
            ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"]
        )
